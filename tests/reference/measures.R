## Reference values for the effect-size measures of src/metareview/effects/escalc.py
## (tests/test_measures.py): metafor's escalc(measure = ..., vtype = ...) yi and vi.
##
## Run from this folder:
##   R CMD BATCH --no-save --no-restore --no-timing measures.R measures.Rout
## It writes measures.json: one case per measure (and vtype), with the input columns under
## metafor's argument names, so the Python test reads exactly the numbers R used.
## Data: metadat's dat.bcg (2x2 tables), dat.hart1999 (person-time), dat.craft2003
## (correlations), dat.aloe2013 (partial correlations); the other rows are constructed (the
## change scores are the treatment groups of Morris 2008, Table 1, as in metafor's examples),
## and some have a zero count to exercise metafor's continuity correction.
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})
cat("R", R.version$major, ".", R.version$minor, " metafor ", format(packageVersion("metafor")),
    " metadat ", format(packageVersion("metadat")), "\n", sep = "")

bcg <- with(dat.bcg, data.frame(ai = tpos, bi = tneg, ci = cpos, di = cneg))
bcg <- rbind(bcg, data.frame(ai = 0, bi = 120, ci = 4, di = 110))   # a zero cell
two <- data.frame(m1i = c(10.2, 25.1, 3.4, 101.0, 7.7), sd1i = c(2.1, 6.3, 1.2, 15.5, 3.9),
                  n1i = c(20, 35, 12, 60, 8), m2i = c(9.1, 21.0, 3.9, 95.2, 5.0),
                  sd2i = c(2.5, 5.1, 0.8, 18.1, 2.2), n2i = c(22, 30, 15, 58, 9))
change <- data.frame(m1i = c(30.6, 23.5, 0.5, 53.4, 35.6), m2i = c(38.5, 26.8, 7.0, 75.0, 36.0),
                     sd1i = c(15.0, 3.1, 1.4, 14.5, 4.7), sd2i = c(11.6, 4.1, 2.6, 18.0, 4.6),
                     ni = c(20, 50, 9, 10, 14), ri = c(0.47, 0.64, 0.77, 0.89, 0.44))
hart <- with(dat.hart1999, data.frame(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i))
hart <- rbind(hart, data.frame(x1i = 0, t1i = 150.5, x2i = 3, t2i = 140))   # no events in group 1
rate <- data.frame(xi = c(hart$x1i, 12), ti = c(hart$t1i, 33.3))
single <- data.frame(mi = c(12.5, 3.1, 250, 0.8, 41), sdi = c(3.2, 1.9, 80, 0.35, 12),
                     ni = c(30, 12, 100, 7, 55))
prop <- data.frame(xi = c(4, 0, 37, 12, 50), ni = c(40, 25, 90, 12, 51))
craft <- with(dat.craft2003[1:8, ], data.frame(ri = ri, ni = ni))
aloe <- with(dat.aloe2013, data.frame(ti = tval, ni = n, mi = preds, r2i = R2))

cases <- list(
  list("PETO", bcg), list("AS", bcg), list("PHI", bcg), list("PHI", bcg, "ST"),
  list("YUQ", bcg), list("YUY", bcg), list("OR2DN", bcg), list("OR2DL", bcg), list("OR2D", bcg),
  list("SMDH", two), list("SMDH", two, "LS2"), list("SMD1", two), list("SMD1", two, "LS2"),
  list("SMD1", two, "UB"), list("SMD1", two, "AV"),
  list("CVR", two), list("VR", two[, c("sd1i", "n1i", "sd2i", "n2i")]),
  list("RPB", two), list("RPB", two, "CS"), list("RBIS", two), list("D2ORN", two),
  list("D2ORL", two), list("D2OR", two),
  list("MC", change), list("SMCC", change), list("SMCC", change, "LS2"),
  list("SMCR", change[, c("m1i", "m2i", "sd1i", "ni", "ri")]),
  list("SMCR", change[, c("m1i", "m2i", "sd1i", "ni", "ri")], "LS2"), list("SMCRH", change),
  list("IRR", hart), list("IRD", hart), list("IRSD", hart),
  list("IR", rate), list("IRLN", rate), list("IRS", rate), list("IRFT", rate),
  list("MN", single), list("MNLN", single), list("CVLN", single),
  list("SDLN", single[, c("sdi", "ni")]), list("PLN", prop), list("PLN", prop, "AV"),
  list("UCOR", craft), list("UCOR", craft, "UB"), list("UCOR", craft, "AV"),
  list("PCOR", aloe[, c("ti", "ni", "mi")]), list("PCOR", aloe[, c("ti", "ni", "mi")], "AV"),
  list("ZPCOR", aloe[, c("ti", "ni", "mi")]), list("SPCOR", aloe), list("SPCOR", aloe, "AV")
)

out <- lapply(cases, function(cs) {
  measure <- cs[[1]]; dat <- cs[[2]]; vtype <- if (length(cs) > 2) cs[[3]] else "LS"
  es <- do.call(escalc, c(list(measure = measure, vtype = vtype), as.list(dat)))
  cat(sprintf("%-6s %-4s yi = %s\n%-11s vi = %s\n", measure, vtype,
              paste(formatC(es$yi, digits = 10, format = "g"), collapse = " "), "",
              paste(formatC(es$vi, digits = 10, format = "g"), collapse = " ")))
  list(measure = measure, vtype = vtype, data = as.list(dat),
       yi = as.numeric(es$yi), vi = as.numeric(es$vi))
})
## One model on a new measure, for the command line's `analyze --measure IRR`.
fit <- rma(measure = "IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = hart,
           method = "REML", control = list(threshold = 1e-13, tol = 1e-13, maxiter = 10000))
cat(sprintf("rma IRR REML: estimate = %.10g se = %.10g tau2 = %.10g Q = %.10g\n",
            fit$beta[1], fit$se, fit$tau2, fit$QE))
rma_irr <- list(data = as.list(hart), estimate = fit$beta[1], se = fit$se, tau2 = fit$tau2,
                QE = fit$QE)
writeLines(toJSON(list(escalc = out, rma_irr = rma_irr), digits = NA, auto_unbox = TRUE,
                  pretty = TRUE), "measures.json")
cat(length(out), "cases written to measures.json\n")
