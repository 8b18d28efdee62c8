## anova() and robust() of rma.mv fits with containment df and a chosen btt (metafor 3.8-1,
## clubSandwich 0.5.8): which df each test uses, and which coefficients a test defaults to.
## Run: Rscript tests/reference/anova_mv.R > tests/reference/anova_mv.json
## (prints the JSON; tests/test_multilevel_anova.py reads it.)
suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
CTRL <- list(rel.tol = 1e-12, x.tol = 1e-12, iter.max = 10000, eval.max = 10000)
dat <- metadat::dat.assink2016
dat$deltype <- relevel(factor(dat$deltype), ref = "general")
## deltype varies within studies, year only between them: their containment df differ
fit <- rma.mv(yi, vi, mods = ~ deltype + year, random = ~ 1 | study/esid, data = dat,
              test = "t", dfs = "contain", control = CTRL)
wald <- function(a) list(QM = a$QM, QMdf = unname(a$QMdf), QMp = a$QMp)
L <- rbind(c(0, 1, -1, 0), c(0, 0, 0, 1), c(1, 0, 0, 0))
ax <- anova(fit, X = L)
fit3 <- rma.mv(yi, vi, mods = ~ deltype + year, random = ~ 1 | study/esid, data = dat,
               test = "t", dfs = "contain", btt = 4, control = CTRL)
rob3 <- robust(fit3, cluster = dat$study, clubSandwich = TRUE)
fit0 <- rma.mv(yi, vi, mods = ~ deltype - 1, random = ~ 1 | study/esid, data = dat,
               control = CTRL)
out <- list(
  metafor = as.character(packageVersion("metafor")),
  clubSandwich = as.character(packageVersion("clubSandwich")),
  data = list(study = dat$study, esid = dat$esid, yi = dat$yi, vi = dat$vi,
              deltype = as.character(dat$deltype), year = dat$year),
  X = unname(model.matrix(fit)), X0 = unname(model.matrix(fit0)),
  coef_names = rownames(fit$beta), ddf = unname(fit$ddf),
  sigma2 = fit$sigma2, sigma2_noint = fit0$sigma2, sigma2_btt4 = fit3$sigma2,
  fit = c(wald(fit), list(btt = fit$btt)),
  anova_default = wald(anova(fit)),
  anova_btt4 = wald(anova(fit, btt = 4)),
  anova_btt1 = wald(anova(fit, btt = 1)),
  anova_X = c(wald(ax), list(L = L, Xb = unname(c(ax$Xb)), se = unname(ax$se),
                             zval = unname(ax$zval), pval = unname(ax$pval), ddf = ax$ddf)),
  fit_btt4 = c(wald(fit3), list(btt = fit3$btt)),
  anova_fit_btt4 = wald(anova(fit3)),
  robust_btt4 = list(QM = rob3$QM, QMdf = unname(rob3$QMdf), QMp = rob3$QMp),
  fit_noint = c(wald(fit0), list(btt = fit0$btt)),
  anova_noint = wald(anova(fit0))
)
cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "\n")
