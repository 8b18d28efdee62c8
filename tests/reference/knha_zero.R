## ---------------------------------------------------------------------------
## knha_zero.R -- what metafor 3.8 does with the Knapp-Hartung test when the
## estimates have no residual variation about the fit (identical estimates, or
## a meta-regression that fits them exactly), so the scale factor s2w is 0.
##
## Re-run with:
##     cd tests/reference && Rscript knha_zero.R > knha_zero.Rout 2>&1
##
## Requires R >= 4.2, metafor 3.8-1, jsonlite. Writes tests/reference/knha_zero.json.
##
## metafor 3.8's rma.uni sets s2w <- 0 when the weighted residual sum of squares is
## <= .Machine$double.eps (else RSS / (k - p)) and scales vb by s2w: SE 0, t = Inf,
## p = 0 and a zero-width CI, without a warning. test = "adhoc" truncates s2w at 1.
## predict() gives no prediction interval for FE (pi_lb, pi_ub null), nor here for the
## meta-regression. +-Inf (t, QM) is written as the string "Inf"; null is NA.
## rma() uses control = list(threshold = 1e-13, tol = 1e-13, maxiter = 10000).
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
options(warn = 1)

script_dir <- local({
  fa <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(fa)) dirname(normalizePath(sub("^--file=", "", fa[1]))) else getwd()
})
json_path <- file.path(script_dir, "knha_zero.json")
CTRL <- list(threshold = 1e-13, tol = 1e-13, maxiter = 10000)

cat("knha_zero reference\n")
cat("R:", R.version.string, "\n")
cat("metafor:", as.character(packageVersion("metafor")),
    " jsonlite:", as.character(packageVersion("jsonlite")), "\n\n")

arr <- function(x) I(as.vector(unname(x)))
## +-Inf (t = Inf, QM = Inf when SE = 0) as the strings "Inf"/"-Inf", so that JSON null
## stays NA; one element a number or such a string.
num <- function(x) {
  x <- as.vector(unname(x))
  I(lapply(x, function(v) if (is.infinite(v)) (if (v > 0) "Inf" else "-Inf") else v))
}
run <- function(expr) {
  warns <- character(0)
  val <- withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
  })
  list(value = val, warnings = unique(warns))
}

DATA <- list(
  ## the issue's file: study,yi,vi / A,0.5,0.1 / A,0.5,0.1
  identical2 = data.frame(yi = c(0.5, 0.5), vi = c(0.1, 0.1), x = c(NA, NA)),
  ## identical estimates with unequal variances
  identical3 = data.frame(yi = c(0.5, 0.5, 0.5), vi = c(0.1, 0.2, 0.05), x = c(NA, NA, NA)),
  ## a meta-regression through the points: yi = 0.1 + 0.2 x
  line4 = data.frame(yi = 0.1 + 0.2 * (1:4), vi = c(0.1, 0.2, 0.3, 0.4), x = 1:4)
)

cases <- list()
for (name in names(DATA)) {
  d <- DATA[[name]]
  mods <- if (all(is.na(d$x))) NULL else d$x
  for (method in c("REML", "DL", "FE")) {
    for (test in c("knha", "t", "z", "adhoc")) {
      r <- run(if (is.null(mods))
        rma(d$yi, d$vi, method = method, test = test, control = CTRL)
      else rma(d$yi, d$vi, mods = ~ mods, method = method, test = test, control = CTRL))
      res <- r$value
      pr <- predict(res)
      id <- paste(name, method, test, sep = "/")
      case <- list(
        id = id, data = name, method = method, test = test, yi = arr(d$yi), vi = arr(d$vi),
        x = if (is.null(mods)) NA else arr(mods), warnings = arr(r$warnings), k = res$k,
        p = res$p, estimate = arr(res$beta), se = arr(res$se), zval = num(res$zval),
        pval = arr(res$pval), ci_lb = arr(res$ci.lb), ci_ub = arr(res$ci.ub),
        ddf = if (test == "z") NA else res$ddf[[1]], tau2 = res$tau2, QE = res$QE,
        QEp = res$QEp, QM = num(res$QM), QMp = res$QMp, s2w = res$s2w,
        pi_lb = if (is.null(mods) && !is.null(pr$pi.lb)) pr$pi.lb else NA,
        pi_ub = if (is.null(mods) && !is.null(pr$pi.ub)) pr$pi.ub else NA)
      case$QM <- case$QM[[1]]
      cases[[length(cases) + 1]] <- case
      cat(sprintf(paste("%-22s k=%d est=%s se=%s stat=%s pval=%s ci=[%s, %s] tau2=%.10g",
                        "s2w=%.10g QE=%.10g warnings=%s\n"),
                  id, res$k, paste(format(res$beta, digits = 10), collapse = ","),
                  paste(format(res$se, digits = 10), collapse = ","),
                  paste(format(res$zval, digits = 10), collapse = ","),
                  paste(format(res$pval, digits = 10), collapse = ","),
                  paste(format(res$ci.lb, digits = 10), collapse = ","),
                  paste(format(res$ci.ub, digits = 10), collapse = ","),
                  res$tau2, res$s2w, res$QE,
                  if (length(r$warnings)) paste(r$warnings, collapse = " | ") else "none"))
    }
  }
  cat("\n")
}

## The issue's exact call, printed as metafor prints it.
res <- rma(c(0.5, 0.5), c(0.1, 0.1), test = "knha")
print(res)
print(predict(res))

out <- list(
  meta = list(generator = "tests/reference/knha_zero.R", R_version = R.version.string,
              metafor_version = as.character(packageVersion("metafor")),
              jsonlite_version = as.character(packageVersion("jsonlite")),
              rma_control = CTRL),
  cases = cases)
write_json(out, json_path, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat(length(cases), "cases written to tests/reference/knha_zero.json\n")
