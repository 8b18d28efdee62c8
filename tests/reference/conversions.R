## Reference values for src/metareview/effects/conversions.py (tests/test_conversions.py).
##
## Run from this folder:
##   R CMD BATCH --no-save --no-restore --no-timing conversions.R conversions.Rout
## It writes conversions.json (read by the tests) and prints every value into conversions.Rout.
##
## Why the formulas are written out here instead of calling metafor:
## conv.fivenum() and conv.wald() first appeared in metafor 4.0-0; the installed metafor is 3.8-1
## (Debian bookworm's r-cran-metafor), which has neither. So this script evaluates, in base R, the
## same closed forms that metafor >= 4.0 uses, with the argument choices stated below. When run
## under metafor >= 4.0 the script also calls the real conv.fivenum()/conv.wald() and stops
## unless they agree with the values written here (section "Cross-check").
##
## Median/quartiles/range -> mean (Luo et al. 2018, Stat Methods Med Res 27:1785-1805, eqs. for
## scenarios S1, S2, S3; metafor calls it "luo2016" after the online-first year):
##   S1 (min, median, max):        w = 4 / (4 + n^0.75)
##                                 mean = w (min + max)/2 + (1 - w) median
##   S2 (q1, median, q3):          w = 0.7 + 0.39/n
##                                 mean = w (q1 + q3)/2 + (1 - w) median
##   S3 (min, q1, median, q3, max): w1 = 2.2 / (2.2 + n^0.75), w2 = 0.7 - 0.72 / n^0.55
##                                 mean = w1 (min + max)/2 + w2 (q1 + q3)/2 + (1 - w1 - w2) median
## -> SD (Wan et al. 2014, BMC Med Res Methodol 14:135, eqs. 9, 16 and 13):
##   xi(n)  = 2 qnorm((n - 0.375) / (n + 0.25))
##   eta(n) = 2 qnorm((0.75 n - 0.125) / (n + 0.25))
##   S1: (max - min) / xi(n);  S2: (q3 - q1) / eta(n);  S3: the average of the two.
## metafor's conv.fivenum() default ("rec") uses Shi et al. 2020 for the S3 SD, so the matching
## call is conv.fivenum(..., method = c("luo2016", "wan2014"), dist = "norm", test = FALSE):
## method[1] selects Luo for the mean, method[2] Wan for the SD, and test = FALSE stops it from
## blanking rows that fail its skewness test. conv.fivenum() returns NA for n < 5, hence the grid
## starts at n = 5.
##
## CI / p-value -> SE (conv.wald(); Cochrane Handbook v6 sections 6.3.1-6.3.2 and 6.5.2.3):
##   se = (ub - lb) / (2 z), z = qnorm(1 - alpha/2), on the log scale for ratio measures;
##   with df: z replaced by qt(1 - alpha/2, df) (Cochrane 6.5.2.3; conv.wald has no df).
##   p (two-sided) -> z = qnorm(p/2, lower.tail = FALSE) (or qt with df); se = |yi| / z.

options(digits = 15)

## ---------------------------------------------------------------- median/quantiles -> mean/SD

xi_n  <- function(n) 2 * qnorm((n - 0.375) / (n + 0.25))
eta_n <- function(n) 2 * qnorm((0.75 * n - 0.125) / (n + 0.25))

luo_mean <- function(scenario, n, a, q1, m, q3, b) {
   switch(scenario,
      S1 = { w <- 4 / (4 + n^0.75); w * (a + b) / 2 + (1 - w) * m },
      S2 = { w <- 0.7 + 0.39 / n; w * (q1 + q3) / 2 + (1 - w) * m },
      S3 = {
         w1 <- 2.2 / (2.2 + n^0.75)
         w2 <- 0.7 - 0.72 / n^0.55
         w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m
      })
}

wan_sd <- function(scenario, n, a, q1, q3, b) {
   switch(scenario,
      S1 = (b - a) / xi_n(n),
      S2 = (q3 - q1) / eta_n(n),
      S3 = ((b - a) / xi_n(n) + (q3 - q1) / eta_n(n)) / 2)
}

## Realistic five-number summaries: right-skewed (length of stay, costs), near-symmetric
## (blood pressure), one with negative values (change scores), one exactly symmetric.
fivenums <- list(
   los     = c(min = 2,    q1 = 6,    median = 9,   q3 = 17,   max = 41),
   score   = c(min = 10,   q1 = 20,   median = 25,  q3 = 32,   max = 60),
   change  = c(min = -3.1, q1 = -0.8, median = 0.2, q3 = 1.1,  max = 4.9),
   sbp     = c(min = 118,  q1 = 131,  median = 138, q3 = 146,  max = 171),
   symm    = c(min = 0,    q1 = 25,   median = 50,  q3 = 75,   max = 100)
)
ns <- c(5, 8, 12, 20, 35, 50, 100, 200, 500)

rows <- list()
for (label in names(fivenums)) {
   f <- fivenums[[label]]
   for (n in ns) {
      for (sc in c("S1", "S2", "S3")) {
         has_range <- sc %in% c("S1", "S3")
         has_quart <- sc %in% c("S2", "S3")
         rows[[length(rows) + 1]] <- data.frame(
            label = label, scenario = sc, n = n,
            min = if (has_range) f[["min"]] else NA_real_,
            q1 = if (has_quart) f[["q1"]] else NA_real_,
            median = f[["median"]],
            q3 = if (has_quart) f[["q3"]] else NA_real_,
            max = if (has_range) f[["max"]] else NA_real_,
            mean = luo_mean(sc, n, f[["min"]], f[["q1"]], f[["median"]], f[["q3"]], f[["max"]]),
            sd = wan_sd(sc, n, f[["min"]], f[["q1"]], f[["q3"]], f[["max"]]))
      }
   }
}
fivenum <- do.call(rbind, rows)
print(fivenum, digits = 15, row.names = FALSE)

## ---------------------------------------------------------------- CI -> yi, vi (Wald)

ci_cases <- data.frame(
   label = c("OR", "HR", "RR", "RR_wide", "MD", "SMD", "MD_90", "OR_99", "HR_90", "MD_t"),
   ratio = c(TRUE, TRUE, TRUE, TRUE, FALSE, FALSE, FALSE, TRUE, TRUE, FALSE),
   est   = c(0.62, 1.35, 2.10, 0.48, -3.2, 0.41, 1.8, 0.71, 1.12, 4.0),
   lb    = c(0.41, 1.02, 0.90, 0.05, -5.9, 0.12, 0.3, 0.52, 0.98, 1.0),
   ub    = c(0.94, 1.79, 4.90, 4.61, -0.5, 0.70, 3.3, 0.97, 1.28, 7.0),
   level = c(95, 95, 95, 95, 95, 95, 90, 99, 90, 95),
   df    = c(NA, NA, NA, NA, NA, NA, NA, NA, NA, 18)
)
## log only the ratio rows (ifelse() would evaluate log() on the negative differences too)
tf <- function(x, ratio) { x[ratio] <- log(x[ratio]); x }
crit <- ifelse(is.na(ci_cases$df),
               qnorm((1 - ci_cases$level / 100) / 2, lower.tail = FALSE),
               qt((1 - ci_cases$level / 100) / 2, df = ci_cases$df, lower.tail = FALSE))
ci_cases$yi <- tf(ci_cases$est, ci_cases$ratio)
ci_cases$se <- (tf(ci_cases$ub, ci_cases$ratio) - tf(ci_cases$lb, ci_cases$ratio)) / (2 * crit)
ci_cases$vi <- ci_cases$se^2
print(ci_cases, digits = 15, row.names = FALSE)

## ---------------------------------------------------------------- p-value -> SE

p_cases <- data.frame(
   label = c("MD", "OR", "RR", "SMD", "HR_tiny_p", "MD_t", "logOR_t"),
   ratio = c(FALSE, TRUE, TRUE, FALSE, TRUE, FALSE, TRUE),
   est   = c(2.5, 1.8, 0.75, -0.33, 0.55, 2.5, 1.8),
   p     = c(0.03, 0.012, 0.2, 0.047, 1e-6, 0.03, 0.012),
   df    = c(NA, NA, NA, NA, NA, 24, 60)
)
p_cases$yi <- tf(p_cases$est, p_cases$ratio)
p_cases$stat <- ifelse(is.na(p_cases$df),
                       qnorm(p_cases$p / 2, lower.tail = FALSE),
                       qt(p_cases$p / 2, df = p_cases$df, lower.tail = FALSE))
p_cases$se <- abs(p_cases$yi) / p_cases$stat
print(p_cases, digits = 15, row.names = FALSE)

## ---------------------------------------------------------------- Cross-check (metafor >= 4.0)

if (requireNamespace("metafor", quietly = TRUE)) {
   cat("metafor version:", format(packageVersion("metafor")), "\n")
   ns_mf <- asNamespace("metafor")
   if (exists("conv.fivenum", envir = ns_mf) && exists("conv.wald", envir = ns_mf)) {
      chk <- metafor::conv.fivenum(min = fivenum$min, q1 = fivenum$q1, median = fivenum$median,
                                   q3 = fivenum$q3, max = fivenum$max, n = fivenum$n,
                                   method = c("luo2016", "wan2014"), dist = "norm", test = FALSE)
      stopifnot(isTRUE(all.equal(as.vector(chk$mean), fivenum$mean, tolerance = 1e-12)),
                isTRUE(all.equal(as.vector(chk$sd), fivenum$sd, tolerance = 1e-12)))
      z <- is.na(ci_cases$df)
      chk <- metafor::conv.wald(out = ci_cases$yi[z],
                                ci.lb = tf(ci_cases$lb, ci_cases$ratio)[z],
                                ci.ub = tf(ci_cases$ub, ci_cases$ratio)[z],
                                level = ci_cases$level[z], check = FALSE)
      stopifnot(isTRUE(all.equal(as.vector(chk$vi), ci_cases$vi[z], tolerance = 1e-12)))
      z <- is.na(p_cases$df)
      chk <- metafor::conv.wald(out = p_cases$yi[z], pval = p_cases$p[z], check = FALSE)
      stopifnot(isTRUE(all.equal(sqrt(as.vector(chk$vi)), p_cases$se[z], tolerance = 1e-12)))
      cat("Cross-check against metafor::conv.fivenum() and metafor::conv.wald(): OK\n")
   } else {
      cat("Cross-check skipped: this metafor has no conv.fivenum()/conv.wald() (added in 4.0-0).\n")
   }
}

## ---------------------------------------------------------------- write JSON
## (digits = NA: 15 significant digits, far below the tests' 1e-6 relative tolerance)

jsonlite::write_json(
   list(generated_by = "tests/reference/conversions.R",
        r_version = R.version.string,
        metafor_version = format(packageVersion("metafor")),
        fivenum = fivenum, ci = ci_cases, pval = p_cases),
   "conversions.json", digits = NA, pretty = TRUE, na = "null", auto_unbox = TRUE)
cat("wrote conversions.json\n")
