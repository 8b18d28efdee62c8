## ---------------------------------------------------------------------------
## robust.R -- cluster-robust inference for rma.uni fits: metafor 3.8's robust()
## (CR1-type sandwich, df = clusters - p, t and F tests) and robust(...,
## clubSandwich = TRUE) (clubSandwich's CR2 with Satterthwaite df per coefficient
## and the HTZ Wald test of the moderators).
##
## Re-run with:
##     cd tests/reference && Rscript robust.R > robust.Rout 2>&1
##
## Requires R >= 4.2, metafor 3.8-1, clubSandwich 0.5.8, metadat, jsonlite.
## Writes tests/reference/robust.json and tests/data/dat.konstantopoulos2011.csv
## (the metadat dataset, write.csv(row.names = FALSE); every fit uses the data as
## read back from CSV, as metafor_reference.R does).
## rma() uses control = list(threshold = 1e-13, tol = 1e-13, maxiter = 10000).
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
  library(jsonlite)
})
options(warn = 1)

script_dir <- local({
  fa <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(fa)) dirname(normalizePath(sub("^--file=", "", fa[1]))) else getwd()
})
root <- normalizePath(file.path(script_dir, "..", ".."))
json_path <- file.path(script_dir, "robust.json")
CTRL <- list(threshold = 1e-13, tol = 1e-13, maxiter = 10000)

cat("robust reference\n")
cat("R:", R.version.string, "\n")
cat("metafor:", as.character(packageVersion("metafor")),
    " clubSandwich:", as.character(packageVersion("clubSandwich")),
    " jsonlite:", as.character(packageVersion("jsonlite")), "\n\n")

arr <- function(x) I(as.vector(unname(x)))

bcg <- read.csv(file.path(root, "tests", "data", "dat.bcg.csv"))
bcg$decade <- floor(bcg$year / 10) * 10
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)

konst_csv <- file.path(root, "tests", "data", "dat.konstantopoulos2011.csv")
k11 <- as.data.frame(metadat::dat.konstantopoulos2011)
k11$yi <- as.vector(k11$yi); k11$vi <- as.vector(k11$vi)
write.csv(k11, konst_csv, row.names = FALSE)
k11 <- read.csv(konst_csv)
## a dummy that is 1 in one district only: that cluster holds all the information on it, so
## CR2's (Theta_j - X_j M X_j') is singular and clubSandwich's matrix_power zeroes eigenvalues
## at or below 1e-12
k11$d11 <- as.numeric(k11$district == 11)

## id, data, cluster column, moderator formula (NULL: intercept only), method, test
CASES <- list(
  list("bcg/alloc/int", "bcg", "alloc", NULL, "REML", "z"),
  list("bcg/alloc/ablat", "bcg", "alloc", ~ ablat, "REML", "z"),
  list("bcg/decade/int", "bcg", "decade", NULL, "REML", "z"),
  list("bcg/decade/ablat", "bcg", "decade", ~ ablat, "REML", "z"),
  list("bcg/decade/ablat+year", "bcg", "decade", ~ ablat + year, "REML", "z"),
  list("bcg/decade/int/FE", "bcg", "decade", NULL, "FE", "z"),
  list("bcg/decade/ablat/DL/knha", "bcg", "decade", ~ ablat, "DL", "knha"),
  list("konstantopoulos2011/district/int", "k11", "district", NULL, "REML", "z"),
  list("konstantopoulos2011/district/year", "k11", "district", ~ year, "REML", "z"),
  list("konstantopoulos2011/district/d11", "k11", "district", ~ d11, "REML", "z")
)

out <- list()
for (cs in CASES) {
  id <- cs[[1]]; dat <- if (cs[[2]] == "bcg") bcg else k11
  cl <- dat[[cs[[3]]]]
  fit <- if (is.null(cs[[4]])) {
    rma(yi, vi, data = dat, method = cs[[5]], test = cs[[6]], control = CTRL)
  } else {
    rma(yi, vi, mods = cs[[4]], data = dat, method = cs[[5]], test = cs[[6]], control = CTRL)
  }
  res <- list(k = fit$k, n_clusters = length(unique(cl)), beta = arr(fit$beta),
              tau2 = fit$tau2, model_se = arr(fit$se))
  for (adj in c(TRUE, FALSE)) {
    r <- robust(fit, cluster = cl, adjust = adj)
    res[[if (adj) "CR1" else "CR0"]] <- list(
      se = arr(r$se), tval = arr(r$zval), df = r$dfs, pval = arr(r$pval),
      ci_lb = arr(r$ci.lb), ci_ub = arr(r$ci.ub), QM = r$QM, QMdf = arr(r$QMdf),
      QMp = r$QMp, vb = arr(r$vb))
  }
  r <- robust(fit, cluster = cl, clubSandwich = TRUE)
  cr2 <- list(se = arr(r$se), tval = arr(r$zval), df = arr(r$dfs), pval = arr(r$pval),
              ci_lb = arr(r$ci.lb), ci_ub = arr(r$ci.ub), QM = r$QM, QMdf = arr(r$QMdf),
              QMp = r$QMp, vb = arr(r$vb))
  if (!fit$int.only) {
    w <- Wald_test(fit, constraints = constrain_zero(fit$btt), vcov = "CR2", cluster = cl,
                   test = "HTZ")
    cr2$HTZ <- list(Fstat = w$Fstat, delta = w$delta, df_num = w$df_num,
                    df_denom = w$df_denom, p_val = w$p_val)
  }
  res$CR2 <- cr2
  out[[id]] <- res
  cat(sprintf("%-40s k=%d n=%d CR1 se=%s | CR2 se=%s df=%s QM=%.6g\n", id, fit$k,
              res$n_clusters, paste(signif(res$CR1$se, 7), collapse = ","),
              paste(signif(cr2$se, 7), collapse = ","),
              paste(signif(cr2$df, 7), collapse = ","), cr2$QM))
}

meta <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
             clubSandwich = as.character(packageVersion("clubSandwich")),
             control = CTRL)
write_json(list(meta = meta, cases = out), json_path, digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")
cat("\n", length(out), "cases written to robust.json\n")
