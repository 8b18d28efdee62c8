## ---------------------------------------------------------------------------
## blup.R -- metafor 3.8's blup() and ranef() for rma.uni fits (best linear
## unbiased predictions of the true effects and of the random effects).
##
## Re-run with:
##     cd tests/reference && Rscript blup.R > blup.Rout 2>&1
##
## Requires R >= 4.2, metafor 3.8-1, jsonlite. Reads tests/data/dat.bcg.csv
## (written by metafor_reference.R). rma() uses control = list(threshold = 1e-13,
## tol = 1e-13, maxiter = 10000).
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
script_dir <- local({
  fa <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(fa)) dirname(normalizePath(sub("^--file=", "", fa[1]))) else getwd()
})
root <- normalizePath(file.path(script_dir, "..", ".."))
CTRL <- list(threshold = 1e-13, tol = 1e-13, maxiter = 10000)
cat("blup/ranef reference\nR:", R.version.string, " metafor:", as.character(packageVersion("metafor")), "\n\n")
bcg <- read.csv(file.path(root, "tests", "data", "dat.bcg.csv"))
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
CASES <- list(
  list("REML", "z", NULL), list("DL", "knha", NULL), list("FE", "z", NULL),
  list("REML", "z", ~ ablat), list("ML", "t", ~ ablat + year))
out <- list()
for (cs in CASES) {
  id <- paste0(cs[[1]], "/", cs[[2]], if (is.null(cs[[3]])) "" else paste0("/", deparse(cs[[3]][[2]])))
  res <- if (is.null(cs[[3]])) rma(yi, vi, data = dat, method = cs[[1]], test = cs[[2]], control = CTRL)
         else rma(yi, vi, mods = cs[[3]], data = dat, method = cs[[1]], test = cs[[2]], control = CTRL)
  b <- blup(res); r <- ranef(res)
  out[[id]] <- list(method = cs[[1]], test = cs[[2]],
                    mods = if (is.null(cs[[3]])) NULL else all.vars(cs[[3]]),
                    tau2 = res$tau2,
                    blup = list(pred = b$pred, se = b$se, pi_lb = b$pi.lb, pi_ub = b$pi.ub),
                    ranef = list(pred = r$pred, se = r$se, pi_lb = r$pi.lb, pi_ub = r$pi.ub))
  cat("==", id, " tau2 =", format(res$tau2, digits = 10), "\n")
  cat("   blup pred[1:3] =", format(b$pred[1:3], digits = 10), " se[1:3] =", format(b$se[1:3], digits = 10), "\n")
  cat("   ranef pred[1:3] =", format(r$pred[1:3], digits = 10), " se[1:3] =", format(r$se[1:3], digits = 10), "\n")
}
writeLines(toJSON(list(meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
                       cases = out), digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           file.path(script_dir, "blup.json"))
