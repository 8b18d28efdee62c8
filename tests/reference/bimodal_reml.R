# REML likelihoods with a local maximum at tau^2 = 0 and a higher one inside: five datasets of
# bench/bench_batch.py's datasets(10000, 20) (0-based 553, 766, 1876, 8124, 8675).
# metafor's default Fisher scoring stops at 0; started at a quarter of var(yi) it reaches the
# interior maximum. Run from tests/reference:
#   Rscript bimodal_reml.R > bimodal_reml.Rout 2>&1
suppressMessages(library(metafor))
dat <- read.csv("../data/bimodal_reml.csv", colClasses = c("integer", "numeric", "numeric"))
out <- list()
for (d in unique(dat$dataset)) {
  s <- dat[dat$dataset == d, ]
  r0 <- rma(s$yi, s$vi, method = "REML")
  r1 <- rma(s$yi, s$vi, method = "REML",
            control = list(tau2.init = var(s$yi) / 4, threshold = 1e-12, maxiter = 10000))
  out[[length(out) + 1]] <- sprintf(
    '"%d": {"default_tau2": %.17g, "default_ll": %.17g, "interior_tau2": %.17g, "interior_ll": %.17g}',
    d, r0$tau2, as.numeric(logLik(r0)), r1$tau2, as.numeric(logLik(r1)))
  cat(sprintf("%5d default tau2 %.17g ll %.17g | interior tau2 %.17g ll %.17g\n", d, r0$tau2,
              as.numeric(logLik(r0)), r1$tau2, as.numeric(logLik(r1))))
}
writeLines(paste0("{", paste(unlist(out), collapse = ",\n"), "}"), "bimodal_reml.json")
