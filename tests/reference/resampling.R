## ---------------------------------------------------------------------------
## resampling.R -- metafor reference values for permutation tests and GOSH
##
## Re-run with:
##     cd tests/reference && Rscript resampling.R > resampling.Rout 2>&1
##
## Requires R >= 4.2, metafor 3.8-1, jsonlite. Takes about two minutes.
## Reads  src/metareview/data/bcg.csv (dat.bcg as exported by metafor_reference.R).
## Writes tests/reference/resampling_reference.json.
##
## Every case stores its exact inputs (rows of bcg.csv, yi, vi, the model matrix X,
## method, test, control) next to metafor's results, so a test can rebuild the model
## without R. Only exact (fully enumerated, deterministic) computations are stored:
## random permutations and the parametric bootstrap depend on R's random stream and
## cannot be matched.
##
## Numbers are written with 17 significant digits (sprintf("%.17g"), inserted into
## the JSON verbatim) so that they round-trip to the same IEEE double. jsonlite's own
## digits = NA stops at 15 significant digits. NA/NaN is written as null.
##
## How metafor 3.8-1 does the computations (read from metafor:::permutest.rma.uni,
## metafor:::.genuperms, metafor:::gosh.rma and metafor:::.profile.rma.uni). The details
## are in permutest_notes.md.
##  * permutest, intercept-only model: the signs of yi are flipped. An exact test
##    enumerates all 2^k sign vectors in expand.grid order (first study fastest,
##    +1 before -1, so row 1 is the observed data). Each is refit with rma.uni.
##  * permutest, model with moderators: the rows of X are permuted against (yi, vi).
##    An exact test sorts the rows of X and enumerates the *unique* permutations of
##    that multiset (.genuperms, lexicographic). There are k! / prod(n_j!) of them,
##    where n_j counts identical rows of X. The observed arrangement is one of them.
##  * p-value of coefficient j (two-sided, default p2defn = "abs", stat = "test"):
##    mean(abs(zval.perm[, j]) >= abs(zval[j]) - comptol, na.rm = TRUE), with
##    comptol = sqrt(.Machine$double.eps). QMp = mean(QM.perm >= QM - comptol).
##    Refits that fail (try-error) are left NA and dropped by na.rm.
##    With test = "knha"/"t", zval is the t statistic and QM is the F statistic.
##  * exact is chosen automatically when the exact count <= iter (default 1000).
##  * gosh: all subsets with at least p studies (p = number of coefficients; so size
##    1 is included for an intercept-only model), in expand.grid order (binary
##    counting, study 1 = lowest bit), then stably sorted by subset size.
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
bcg_csv <- "src/metareview/data/bcg.csv"
json_path <- file.path(repo_root, "tests", "reference", "resampling_reference.json")

## Same tight control as metafor_reference.R. permutest() and gosh() pass the fit's
## control on to every refit.
CTRL <- list(threshold = 1e-13, tol = 1e-13, maxiter = 10000)

cat("metafor resampling reference generation\n")
cat("R:", R.version.string, "\n")
cat("metafor:", as.character(packageVersion("metafor")),
    " jsonlite:", as.character(packageVersion("jsonlite")), "\n")
cat("rma control: threshold=1e-13 tol=1e-13 maxiter=10000\n\n")

## ---- JSON helpers: numbers at 17 significant digits -------------------------
fmt17 <- function(x) {
  x <- as.numeric(unname(x))
  bad <- is.infinite(x)
  if (any(bad)) stop("non-finite value in reference output")
  ifelse(is.na(x), "null", sprintf("%.17g", x))
}
## scalar number
num <- function(x) {
  if (is.null(x) || length(x) == 0) return(structure("null", class = "json"))
  stopifnot(length(x) == 1)
  structure(fmt17(x), class = "json")
}
## array of numbers (always an array, even of length 1)
nums <- function(x) {
  structure(paste0("[", paste(fmt17(x), collapse = ", "), "]"), class = "json")
}
## data frame / matrix -> object of numeric columns
cols <- function(m) {
  m <- as.data.frame(m)
  out <- lapply(m, nums)
  names(out) <- colnames(m)
  out
}
ints <- function(x) I(as.integer(unname(x)))

## ---- data --------------------------------------------------------------------
bcg <- read.csv(file.path(repo_root, bcg_csv))
bcg <- escalc(measure = "RR", ai = ai, bi = bi, ci = ci, di = di, data = bcg)

inputs <- function(rows, mods, method, test) {
  d <- bcg[rows, ]
  list(dataset = "bcg", csv = bcg_csv, rows = ints(rows - 1L), study = I(d$study),
       measure = "RR", method = method, test = test,
       mods = if (is.null(mods)) NULL else deparse(mods),
       control = list(threshold = num(CTRL$threshold), tol = num(CTRL$tol),
                      maxiter = CTRL$maxiter),
       yi = nums(d$yi), vi = nums(d$vi))
}

fit_model <- function(rows, mods, method, test) {
  d <- bcg[rows, ]
  if (is.null(mods)) {
    rma(yi, vi, data = d, method = method, test = test, control = CTRL)
  } else {
    rma(yi, vi, mods = mods, data = d, method = method, test = test, control = CTRL)
  }
}

fit_summary <- function(res) {
  list(beta = nums(res$beta), se = nums(res$se), zval = nums(res$zval),
       pval = nums(res$pval), QM = num(res$QM), QMdf = nums(res$QMdf), QMp = num(res$QMp),
       tau2 = num(res$tau2), QE = num(res$QE))
}

## ---- permutest -----------------------------------------------------------------
perm_case <- function(name, rows, mods, method, test) {
  res <- fit_model(rows, mods, method, test)
  pt <- permutest(res, exact = TRUE, progbar = FALSE)
  n_perm <- length(pt$QM.perm)
  n_failed <- sum(is.na(pt$QM.perm))
  cat(sprintf("permutest %-28s k=%d p=%d %s/%s  exact.iter=%d  failed=%d  pval=%s  QMp=%.10g\n",
              name, res$k, res$p, method, test, pt$exact.iter, n_failed,
              paste(sprintf("%.10g", pt$pval), collapse = ","), pt$QMp))
  c(list(name = name), inputs(rows, mods, method, test),
    list(X = cols(res$X), int_only = res$int.only,
         fit = fit_summary(res),
         permutest = list(
           exact = TRUE, exact_iter = pt$exact.iter, n_perm = n_perm, n_failed = n_failed,
           alternative = pt$alternative, p2defn = pt$p2defn, stat = pt$stat,
           comptol = num(sqrt(.Machine$double.eps)),
           pval = nums(pt$pval), QM = num(pt$QM), QMdf = nums(pt$QMdf), QMp = num(pt$QMp),
           ## permutation distributions in metafor's enumeration order (sort them for an
           ## order-free comparison); zval is the t statistic and QM the F statistic
           ## when test = "knha"
           QM_perm = nums(pt$QM.perm),
           zval_perm = cols(pt$zval.perm),
           beta_perm = cols(pt$beta.perm))))
}

permutest_cases <- list(
  ## (a) intercept-only, k = 8: all 2^8 = 256 sign flips
  perm_case("bcg8_int_REML_z", 1:8, NULL, "REML", "z"),
  perm_case("bcg8_int_REML_knha", 1:8, NULL, "REML", "knha"),
  perm_case("bcg8_int_DL_z", 1:8, NULL, "DL", "z"),
  ## (b) one continuous moderator, k = 7 studies with distinct ablat: 7! = 5040
  perm_case("bcg7_ablat_REML_z", c(1, 2, 3, 4, 5, 7, 9), ~ ablat, "REML", "z"),
  perm_case("bcg7_ablat_REML_knha", c(1, 2, 3, 4, 5, 7, 9), ~ ablat, "REML", "knha"),
  perm_case("bcg7_ablat_DL_z", c(1, 2, 3, 4, 5, 7, 9), ~ ablat, "DL", "z"),
  perm_case("bcg7_ablat_DL_knha", c(1, 2, 3, 4, 5, 7, 9), ~ ablat, "DL", "knha"),
  ## (c) tied moderator values: unique permutations only
  ##   continuous with one tie (ablat 44 twice in studies 1-7): 7!/2! = 2520
  perm_case("bcg7tie_ablat_REML_z", 1:7, ~ ablat, "REML", "z"),
  ##   three-level factor (random 3, alternate 2, systematic 3): 8!/(3!2!3!) = 560
  perm_case("bcg8_alloc_REML_z", c(1, 2, 3, 5, 6, 10, 11, 12), ~ factor(alloc), "REML", "z"),
  perm_case("bcg8_alloc_REML_knha", c(1, 2, 3, 5, 6, 10, 11, 12), ~ factor(alloc), "REML",
            "knha")
)

## ---- gosh ------------------------------------------------------------------------
gosh_case <- function(name, rows, mods, method) {
  res <- fit_model(rows, mods, method, "z")
  g <- gosh(res, progbar = FALSE)
  cat(sprintf("gosh      %-28s k=%d p=%d %s  subsets=%d  failed=%d\n",
              name, res$k, res$p, method, nrow(g$res), sum(!g$fit)))
  c(list(name = name), inputs(rows, mods, method, "z"),
    list(X = cols(res$X), int_only = res$int.only,
         fit = fit_summary(res),
         gosh = list(
           n_subsets = nrow(g$res), exact = TRUE,
           ## columns k, QE, I2, H2, tau2, then one per coefficient
           ## ("estimate" for an intercept-only model, else colnames(X))
           res = cols(g$res),
           ## one row per subset, same order as res: 1 = study included
           incl = lapply(seq_len(nrow(g$incl)), function(i) ints(g$incl[i, ])),
           fit = I(unname(g$fit)))))
}

gosh_cases <- list(
  gosh_case("bcg6_FE", 1:6, NULL, "FE"),      # closed form in metafor (model = 1)
  gosh_case("bcg6_DL", 1:6, NULL, "DL"),      # closed form in metafor (model = 2)
  gosh_case("bcg6_REML", 1:6, NULL, "REML"),  # rma.uni refit per subset
  gosh_case("bcg6_ablat_REML", 1:6, ~ ablat, "REML")  # subsets of >= 2 studies
)

## ---- write ---------------------------------------------------------------------
out <- list(
  generated_by = "tests/reference/resampling.R",
  R = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  jsonlite = as.character(packageVersion("jsonlite")),
  precision = "17 significant digits; null = NA",
  permutest = permutest_cases,
  gosh = gosh_cases)
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, json_verbatim = TRUE,
                  digits = NA, na = "null", null = "null"), json_path)
cat("\nwrote", sub(paste0(repo_root, "/"), "", json_path),
    ":", length(permutest_cases), "permutest cases,", length(gosh_cases), "gosh cases\n")
