## ---------------------------------------------------------------------------
## drop00.R -- metafor's defaults for double-zero studies (no events, or only
## events, in both arms) in escalc, rma.uni, rma.mh and rma.peto.
##
## Re-run with:
##     cd tests/reference && Rscript drop00.R > drop00.Rout 2>&1
##
## Requires R >= 4.2, metafor 3.8-1, jsonlite.
## Reads:  tests/data/dat.nielweise2007.csv (written by metafor_reference.R)
## Writes: tests/data/drop00_toy.csv, tests/reference/drop00.json
##
## metafor's defaults: escalc and rma.uni add = 1/2, to = "only0", drop00 = FALSE;
## rma.mh and rma.peto add = 1/2, to = "only0", drop00 = TRUE. Every case is run
## with the defaults (drop00 = "default") and with drop00 set the other way.
## rma() uses control = list(threshold = 1e-13, tol = 1e-13, maxiter = 10000).
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
options(warn = 1, stringsAsFactors = FALSE)

script_dir <- local({
  fa <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(fa)) dirname(normalizePath(sub("^--file=", "", fa[1]))) else getwd()
})
repo_root <- normalizePath(file.path(script_dir, "..", ".."))
data_dir <- file.path(repo_root, "tests", "data")
json_path <- file.path(repo_root, "tests", "reference", "drop00.json")

CTRL <- list(threshold = 1e-13, tol = 1e-13, maxiter = 10000)

cat("drop00 reference\n")
cat("R:", R.version.string, "\n")
cat("metafor:", as.character(packageVersion("metafor")),
    " jsonlite:", as.character(packageVersion("jsonlite")), "\n")
cat("formals: escalc drop00 =", formals(escalc)$drop00,
    "| rma.uni drop00 =", formals(rma.uni)$drop00,
    "| rma.mh drop00 =", formals(rma.mh)$drop00,
    "| rma.peto drop00 =", formals(rma.peto)$drop00,
    "| add =", eval(formals(escalc)$add), "to =", formals(escalc)$to, "\n\n")

arr <- function(x) I(as.vector(unname(x)))
sc <- function(x) if (is.null(x) || length(x) == 0) NA else as.vector(unname(x))[[1]]
run <- function(expr) {
  warns <- character(0)
  val <- withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
  })
  list(value = val, warnings = unique(warns))
}

## A small dataset with every kind of zero: a double-zero study (0/20 vs 0/25), an all-events
## study (15/15 vs 12/12), a single-zero study and three ordinary ones.
toy <- data.frame(
  study = c("Adams 2001", "Baker 2003", "Clark 2005", "Davis 2008", "Evans 2010", "Ford 2012"),
  ai = c(0, 15, 0, 4, 9, 6), n1i = c(20, 15, 30, 40, 55, 35),
  ci = c(0, 12, 3, 9, 14, 8), n2i = c(25, 12, 28, 41, 50, 36))
write.csv(toy, file.path(data_dir, "drop00_toy.csv"), row.names = FALSE)
toy <- read.csv(file.path(data_dir, "drop00_toy.csv"))
niel <- read.csv(file.path(data_dir, "dat.nielweise2007.csv"))
niel$study <- paste(niel$author, niel$year)
DATA <- list(nielweise2007 = list(csv = "tests/data/dat.nielweise2007.csv", d = niel),
             toy = list(csv = "tests/data/drop00_toy.csv", d = toy))

cases <- list()
add_case <- function(x) cases[[length(cases) + 1]] <<- x

for (name in names(DATA)) {
  d <- DATA[[name]]$d
  id00 <- (d$ai == 0 & d$ci == 0) | (d$ai == d$n1i & d$ci == d$n2i)
  cat(sprintf("== %s: %d studies, double-zero rows0 = %s\n", name, nrow(d),
              paste(which(id00) - 1, collapse = ",")))
  for (m in c("RR", "OR", "RD")) {
    for (drop in c(NA, TRUE, FALSE)) {
      lab <- if (is.na(drop)) "default" else tolower(as.character(drop))
      ## escalc
      es <- if (is.na(drop)) escalc(m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)
            else escalc(m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, drop00 = drop)
      add_case(list(kind = "escalc", id = paste(name, m, lab, sep = "/"), dataset = name,
                    measure = m, drop00 = lab, yi = arr(as.numeric(es$yi)),
                    vi = arr(as.numeric(es$vi))))
      cat(sprintf("escalc %-26s NA rows0=%s yi[dz]=%s\n", paste(name, m, lab, sep = "/"),
                  paste(which(is.na(es$yi)) - 1, collapse = ","),
                  paste(formatC(as.numeric(es$yi)[id00], digits = 8, format = "g"),
                        collapse = ",")))
      ## rma.uni with the 2x2 data (its own escalc step), REML and DL
      for (method in c("REML", "DL", "FE")) {
        r <- run(if (is.na(drop))
          rma(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, method = method,
              control = CTRL)
        else
          rma(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, method = method,
              drop00 = drop, control = CTRL))
        res <- r$value
        add_case(list(kind = "rma", id = paste(name, m, method, lab, sep = "/"),
                      dataset = name, measure = m, method = method, drop00 = lab,
                      warnings = arr(r$warnings), k = res$k,
                      included_rows0 = arr(which(res$not.na) - 1L),
                      estimate = sc(res$beta), se = sc(res$se), zval = sc(res$zval),
                      pval = sc(res$pval), ci_lb = sc(res$ci.lb), ci_ub = sc(res$ci.ub),
                      tau2 = sc(res$tau2), se_tau2 = sc(res$se.tau2), I2 = sc(res$I2),
                      H2 = sc(res$H2), QE = sc(res$QE), QEdf = res$k - res$p,
                      QEp = sc(res$QEp), weights = arr(weights(res))))
        cat(sprintf("rma    %-30s k=%2d est=%.10g se=%.10g tau2=%.10g I2=%.8g QE=%.10g\n",
                    paste(name, m, method, lab, sep = "/"), res$k, sc(res$beta), sc(res$se),
                    sc(res$tau2), sc(res$I2), sc(res$QE)))
      }
      ## rma.mh (and rma.peto, once per dataset)
      fits <- list(MH = function(dr) if (is.na(dr))
                     rma.mh(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)
                   else rma.mh(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d,
                               drop00 = dr))
      if (m == "OR") fits$PETO <- function(dr) if (is.na(dr))
        rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)
      else rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, drop00 = dr)
      for (method in names(fits)) {
        r <- run(fits[[method]](drop))
        res <- r$value
        add_case(list(kind = "mh", id = paste(name, m, method, lab, sep = "/"), dataset = name,
                      measure = m, method = method, drop00 = lab, warnings = arr(r$warnings),
                      k = res$k, k_yi = res$k.yi, estimate = sc(res$beta), se = sc(res$se),
                      zval = sc(res$zval), pval = sc(res$pval), ci_lb = sc(res$ci.lb),
                      ci_ub = sc(res$ci.ub), QE = sc(res$QE), QEdf = res$k.yi - 1,
                      QEp = sc(res$QEp), I2 = sc(res$I2), H2 = sc(res$H2),
                      weights = arr(weights(res))))
        cat(sprintf("%-6s %-30s k=%2d k.yi=%2d est=%.10g se=%.10g QE=%.10g I2=%.8g\n",
                    tolower(method), paste(name, m, method, lab, sep = "/"), res$k, res$k.yi,
                    sc(res$beta), sc(res$se), sc(res$QE), sc(res$I2)))
      }
    }
  }
  cat("\n")
}

out <- list(
  meta = list(generator = "tests/reference/drop00.R", R_version = R.version.string,
              metafor_version = as.character(packageVersion("metafor")),
              jsonlite_version = as.character(packageVersion("jsonlite")),
              rma_control = CTRL,
              defaults = list(escalc = formals(escalc)$drop00, rma_uni = formals(rma.uni)$drop00,
                              rma_mh = formals(rma.mh)$drop00,
                              rma_peto = formals(rma.peto)$drop00,
                              add = eval(formals(escalc)$add), to = formals(escalc)$to)),
  datasets = lapply(DATA, function(x) list(csv = x$csv, labels = arr(x$d$study))),
  cases = cases)
write_json(out, json_path, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat(length(cases), "cases written to tests/reference/drop00.json\n")
