# The three worked ports of docs/guides/from-metafor.md, run with metafor's defaults.
# Regenerate the committed output with:
#   Rscript docs/guides/metafor_ports.R > docs/guides/metafor_ports.Rout 2>&1
suppressPackageStartupMessages(library(metafor))
cat("R ", R.version$major, ".", R.version$minor, "; metafor ", as.character(packageVersion("metafor")), "\n", sep = "")

cat("\n## (a) BCG vaccine: random-effects model of log risk ratios\n\n")
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
res <- rma(yi, vi, data = dat)
print(res)
predict(res, transf = exp, digits = 4)

cat("\n## (b) Meta-regression on absolute latitude\n\n")
res <- rma(yi, vi, mods = ~ ablat, data = dat)
print(res)

cat("\n## (b2) The same fit solved to the optimum (Fisher scoring to a change below 1e-13)\n\n")
res <- rma(yi, vi, mods = ~ ablat, data = dat, control = list(threshold = 1e-13, maxiter = 10000))
print(res)

cat("\n## (c) Three-level model: schools within districts\n\n")
dat <- dat.konstantopoulos2011
res <- rma.mv(yi, vi, random = ~ 1 | district/school, data = dat)
print(res)
confint(res)

cat("\n## (c2) The profile-likelihood intervals with uniroot solved to 1e-13\n\n")
confint(res, control = list(tol = 1e-13))
