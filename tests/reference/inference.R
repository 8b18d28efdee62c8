## ---------------------------------------------------------------------------
## inference.R -- reference values for tests/test_inference.py
##
## Re-run with:
##     cd tests/reference && Rscript inference.R > inference.Rout 2>&1
##
## Requires R >= 4.2, metafor 3.8-1, jsonlite. Data: tests/data/dat.bcg.csv (written by
## metafor_reference.R). predict() with newmods and transf, anova() with btt and with X
## (Wald tests, z, t and knha), anova(full, reduced) (LRT, ML and REML with equal fixed
## effects), fitstats(), weights(), residuals(), rstandard(). Writes inference.json.
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
CTRL <- list(threshold = 1e-13, tol = 1e-13, maxiter = 10000)

cat("inference reference generation\n")
cat("R:", R.version.string, " metafor:", as.character(packageVersion("metafor")), "\n\n")

dat <- read.csv(file.path(repo_root, "tests", "data", "dat.bcg.csv"))
dat <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat)

v <- function(x) I(as.vector(unname(x)))
pred_list <- function(p) {
  p <- as.data.frame(p)
  out <- list()
  for (nm in c("pred", "se", "ci.lb", "ci.ub", "pi.lb", "pi.ub")) {
    out[[nm]] <- if (nm %in% names(p)) v(p[[nm]]) else NULL
  }
  out
}
fitstats_list <- function(res) {
  fs <- fitstats(res, REML = res$method == "REML")
  list(logLik = fs[1, 1], deviance = fs[2, 1], AIC = fs[3, 1], BIC = fs[4, 1], AICc = fs[5, 1],
       ML = v(res$fit.stats$ML), REML = v(res$fit.stats$REML), parms = res$parms)
}
wald_list <- function(a) {
  out <- list(QM = a$QM, QMp = a$QMp, m = a$m)
  if (!is.null(a$Xb)) {
    out$Xb <- v(a$Xb); out$se <- v(a$se); out$zval <- v(a$zval); out$pval <- v(a$pval)
  }
  out
}

cases <- list()
newmods <- cbind(c(10, 20, 30, 40, 55), c(1950, 1960, 1970, 1975, 1980))
Xc <- rbind(c(0, 1, 0), c(0, 0, 1), c(1, 30, 1970))
for (method in c("REML", "ML", "DL", "FE")) {
  for (test in c("z", "t", "knha")) {
    key <- paste(method, test, sep = "/")
    res <- rma(yi, vi, mods = ~ ablat + year, data = dat, method = method, test = test,
               control = CTRL)
    res0 <- rma(yi, vi, data = dat, method = method, test = test, control = CTRL)
    rs <- rstandard(res)
    a1 <- anova(res, btt = 2)
    a2 <- anova(res, btt = 2:3)
    aX <- anova(res, X = Xc)
    cases[[key]] <- list(
      b = v(coef(res)), tau2 = res$tau2,
      predict_newmods = pred_list(predict(res, newmods = newmods)),
      predict_newmods_exp = pred_list(predict(res, newmods = newmods, transf = exp)),
      predict_fitted = pred_list(predict(res)),
      predict0 = pred_list(predict(res0)),
      predict0_exp = pred_list(predict(res0, transf = exp)),
      anova_btt2 = wald_list(a1), anova_btt23 = wald_list(a2), anova_X = wald_list(aX),
      fitstats = fitstats_list(res), fitstats0 = fitstats_list(res0),
      weights = v(weights(res)), residuals = v(residuals(res)),
      rstandard = list(resid = v(rs$resid), se = v(rs$se), z = v(rs$z))
    )
    cat(sprintf("%-10s QM(btt=2) = %.6f  logLik = %.6f  pred[1] = %.6f\n", key, a1$QM,
                fitstats(res)[1, 1], predict(res, newmods = newmods)$pred[1]))
  }
}

## factor moderator: alloc (alternate, random, systematic) with ablat
res_f <- rma(yi, vi, mods = ~ factor(alloc) + ablat, data = dat, method = "REML",
             control = CTRL)
cases[["factor/REML/z"]] <- list(
  b = v(coef(res_f)), tau2 = res_f$tau2,
  anova_btt23 = wald_list(anova(res_f, btt = 2:3)),
  anova_X = wald_list(anova(res_f, X = rbind(c(0, 1, -1, 0)))),
  predict_newmods = pred_list(predict(res_f, newmods = rbind(c(0, 0, 30), c(1, 0, 30),
                                                             c(0, 1, 30))))
)
cat(sprintf("factor     QM(btt=2:3) = %.6f\n", anova(res_f, btt = 2:3)$QM))

## likelihood-ratio tests (anova(full, reduced))
lrt_list <- function(full, reduced) {
  a <- anova(full, reduced)
  list(LRT = a$LRT, pval = a$pval, p_f = a$parms.f, p_r = a$parms.r,
       fit_f = v(a$fit.stats.f), fit_r = v(a$fit.stats.r), QE_f = a$QE.f, QE_r = a$QE.r,
       tau2_f = a$tau2.f, tau2_r = a$tau2.r, R2 = a$R2,
       R2_unrounded = if (a$method == "FE" || identical(a$tau2.r, 0)) NA else
         100 * max(0, (a$tau2.r - a$tau2.f) / a$tau2.r))
}
ml_f <- rma(yi, vi, mods = ~ ablat + year, data = dat, method = "ML", control = CTRL)
ml_r <- rma(yi, vi, mods = ~ ablat, data = dat, method = "ML", control = CTRL)
ml_0 <- rma(yi, vi, data = dat, method = "ML", control = CTRL)
fe_f <- rma(yi, vi, mods = ~ ablat + year, data = dat, method = "FE", control = CTRL)
reml_f <- rma(yi, vi, mods = ~ ablat + year, data = dat, method = "REML", control = CTRL)
reml_fe <- rma(yi, vi, mods = ~ ablat + year, data = dat, method = "FE", control = CTRL)
reml_0 <- rma(yi, vi, data = dat, method = "REML", control = CTRL)
lrts <- list(
  "ML/full_vs_ablat" = lrt_list(ml_f, ml_r),
  "ML/full_vs_null" = lrt_list(ml_f, ml_0),
  "ML/ablat_vs_null_swapped" = lrt_list(ml_0, ml_r),
  "ML/re_vs_fe" = lrt_list(ml_f, fe_f),
  "REML/re_vs_fe" = lrt_list(reml_f, reml_fe)
)
for (nm in names(lrts)) cat(sprintf("LRT %-26s %.6f p = %.6g\n", nm, lrts[[nm]]$LRT, lrts[[nm]]$pval))
cat("REML with different fixed effects:\n")
print(tryCatch(anova(reml_f, reml_0), warning = function(w) conditionMessage(w)))

out <- list(metafor = as.character(packageVersion("metafor")), R = R.version.string,
            newmods = newmods, X = Xc, cases = cases, lrt = lrts)
write_json(out, file.path(script_dir, "inference.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")
cat("\nwritten inference.json\n")
