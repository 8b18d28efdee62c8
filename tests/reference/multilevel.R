## ---------------------------------------------------------------------------
## multilevel.R -- reference values for the rma.mv port: multilevel (nested random
## effects), multivariate (~ inner | outer with CS, HCS, UN, DIAG, ID, AR, HAR) and
## network (contrast- and arm-based) models, with ranef(), confint() profile CIs,
## predict(), fitstats(), anova() and robust() (metafor CR1 and clubSandwich CR2).
##
## Re-run with:
##     cd tests/reference && Rscript multilevel.R > multilevel.Rout 2>&1
##
## Requires R >= 4.2, metafor 3.8-1, metadat, clubSandwich 0.5.8, jsonlite.
## Writes tests/reference/multilevel.json and the data files tests/data/dat.berkey1998.csv,
## dat.assink2016.csv, dat.senn2013.csv (contrast form: to.wide + escalc MD + contrmat, as
## metadat's example), dat.hasselblad1998.csv (the arm-level data) and
## dat.hasselblad1998.contrast.csv (contrast form). Every fit uses the data as read back from
## CSV (write.csv(row.names = FALSE)), so Python sees the same numbers; the simulated data sets
## and all V matrices are written into the JSON itself.
##
## Every rma.mv() runs nlminb with CTRL below (passed through rma.mv's control list to
## nlminb: names that do not match rma.mv's own control entries go to the optimiser) and is
## refitted with optim's BFGS (CTRL2) from the same starting values; the JSON records, per case,
## the largest absolute and relative difference of the variance/correlation components and the
## log-likelihood difference (nlminb minus BFGS) between the two fits.
##
## I2 per level: metafor's documented method for multilevel models (metafor website,
## "I^2 for multilevel and multivariate models", Viechtbauer's FAQ/tips page):
##     W <- solve(res$V); X <- model.matrix(res)
##     P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
##     I2 = 100 * res$sigma2 / (sum(res$sigma2) + (res$k - res$p) / sum(diag(P)))
## i.e. each sigma2 over the total variance with the "typical" sampling variance
## (k - p) / tr(P); the total I2 is the sum over levels. Computed for models whose random
## part is only '~ 1 | ...' terms (sigma2 components).
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
  library(jsonlite)
})
options(warn = 1, stringsAsFactors = FALSE)

script_dir <- local({
  fa <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(fa)) dirname(normalizePath(sub("^--file=", "", fa[1]))) else getwd()
})
root <- normalizePath(file.path(script_dir, "..", ".."))
data_dir <- file.path(root, "tests", "data")
json_path <- file.path(script_dir, "multilevel.json")

## rel.tol/x.tol of 1e-13 or tighter make nlminb stop with "false convergence" (code 1) on
## k11 already (the log-likelihood is only accurate to ~1e-15 relative); 1e-12 is the tightest
## that converges. A fit that still fails falls back to CTRL_FB (nlminb's default tolerances).
CTRL <- list(rel.tol = 1e-12, x.tol = 1e-12, iter.max = 10000, eval.max = 10000)
CTRL_FB <- list(iter.max = 10000, eval.max = 10000)
CTRL2 <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000)
CI_CTRL <- list(tol = 1e-10)

t_start <- proc.time()[["elapsed"]]
cat("multilevel (rma.mv) reference\n")
cat("R:", R.version.string, "\n")
cat("metafor:", as.character(packageVersion("metafor")),
    " metadat:", as.character(packageVersion("metadat")),
    " clubSandwich:", as.character(packageVersion("clubSandwich")),
    " jsonlite:", as.character(packageVersion("jsonlite")), "\n\n")

arr <- function(x) if (is.null(x)) NULL else I(as.vector(unname(x)))
## absent entries are written as JSON null (a NULL list element would come out as {})
nn <- function(x) if (is.null(x)) NA else x
mat <- function(m) unname(as.matrix(m))
strip <- function(d) {
  ## escalc objects carry attributes; keep plain numeric columns for the CSV
  d <- as.data.frame(d)
  for (nm in names(d)) {
    if (is.numeric(d[[nm]])) d[[nm]] <- as.vector(d[[nm]])
  }
  class(d) <- "data.frame"
  d
}
roundtrip <- function(d, name) {
  path <- file.path(data_dir, name)
  write.csv(strip(d), path, row.names = FALSE)
  read.csv(path)
}

## ---------------------------------------------------------------- data -----
k11 <- read.csv(file.path(data_dir, "dat.konstantopoulos2011.csv"))

berkey <- roundtrip(metadat::dat.berkey1998, "dat.berkey1998.csv")
V_berkey <- vcalc(vi = 1, cluster = author, rvars = c(v1i, v2i), data = berkey)
## the same V written out by hand: the 2x2 block of each trial is its rows' (v1i, v2i)
V_berkey_hand <- bldiag(lapply(split(berkey[c("v1i", "v2i")], berkey$trial), as.matrix))
vcalc_check <- max(abs(V_berkey - V_berkey_hand))

assink <- roundtrip(metadat::dat.assink2016, "dat.assink2016.csv")
assink$deltype <- relevel(factor(assink$deltype), ref = "general")
V_assink <- vcalc(vi, cluster = study, obs = esid, data = assink, rho = 0.6)

senn_raw <- metadat::dat.senn2013[c(1, 4:2, 5:6)]
senn_w <- to.wide(senn_raw, study = "study", grp = "treatment", ref = "placebo", grpvars = 4:6)
senn_w <- escalc(measure = "MD", m1i = mi.1, sd1i = sdi.1, n1i = ni.1,
                 m2i = mi.2, sd2i = sdi.2, n2i = ni.2, data = senn_w)
senn_w <- contrmat(senn_w, grp1 = "treatment.1", grp2 = "treatment.2")
senn <- roundtrip(senn_w, "dat.senn2013.csv")
senn_v <- function(x) {
  v <- matrix(x$sdi.2[1]^2 / x$ni.2[1], nrow = nrow(x), ncol = nrow(x))
  diag(v) <- x$vi
  v
}
## split() orders by study; the CSV keeps to.wide's order, which is grouped by study in
## the same (sorted) order, checked here
stopifnot(identical(senn$study, unlist(split(senn$study, senn$study), use.names = FALSE)))
V_senn <- bldiag(lapply(split(senn, senn$study), senn_v))

hass_raw <- roundtrip(metadat::dat.hasselblad1998, "dat.hasselblad1998.csv")
hass_arm <- escalc(measure = "PLO", xi = xi, ni = ni, add = 1/2, to = "all", data = hass_raw)
hass_arm$trt <- factor(hass_arm$trt,
                       levels = c("no_contact", "self_help", "ind_counseling", "grp_counseling"))
levels(hass_arm$trt) <- paste0(" ", levels(hass_arm$trt))
hass_w <- to.wide(hass_raw, study = "study", grp = "trt", ref = "no_contact", grpvars = 6:7)
hass_w <- escalc(measure = "OR", ai = xi.1, n1i = ni.1, ci = xi.2, n2i = ni.2, add = 1/2,
                 to = "all", data = hass_w)
hass_w <- contrmat(hass_w, grp1 = "trt.1", grp2 = "trt.2")
hass <- roundtrip(hass_w, "dat.hasselblad1998.contrast.csv")
hass_v <- function(x) {
  v <- matrix(1 / (x$xi.2[1] + 1/2) + 1 / (x$ni.2[1] - x$xi.2[1] + 1/2),
              nrow = nrow(x), ncol = nrow(x))
  diag(v) <- x$vi
  v
}
stopifnot(identical(hass$study, unlist(split(hass$study, hass$study), use.names = FALSE)))
V_hass <- bldiag(lapply(split(hass, hass$study), hass_v))

## ------------------------------------------------------ simulated data -----
## Data sets are generated once (set.seed) and rounded to 6 decimals so that the JSON holds
## exactly the numbers that were fitted.
set.seed(20261206)
sim_three_level <- function(n_cl, s2, mods = FALSE, max_per = 8) {
  m <- sample(1:max_per, n_cl, replace = TRUE)
  cl <- rep(seq_len(n_cl), m)
  k <- length(cl)
  es <- unlist(lapply(m, seq_len))
  x <- round(rnorm(k, 0, 1), 6)
  g <- sample(c("a", "b", "c"), k, replace = TRUE)
  mu <- 0.3 + if (mods) 0.2 * x + ifelse(g == "b", 0.25, ifelse(g == "c", -0.15, 0)) else 0
  vi <- round(runif(k, 0.01, 0.15), 6)
  yi <- mu + rnorm(n_cl, 0, sqrt(s2[1]))[cl] + rnorm(k, 0, sqrt(s2[2])) + rnorm(k, 0, sqrt(vi))
  data.frame(cluster = cl, esid = es, yi = round(yi, 6), vi = vi, x = x, g = g)
}
sim_mv <- function(n_st, tau2, rho, r_within) {
  ## two outcomes, each study reports one or both; within-study sampling correlation r
  has <- sample(c("both", "A", "B"), n_st, replace = TRUE, prob = c(0.6, 0.2, 0.2))
  rows <- list(); blocks <- list()
  Tm <- matrix(c(tau2[1], rho * sqrt(prod(tau2)), rho * sqrt(prod(tau2)), tau2[2]), 2)
  for (i in seq_len(n_st)) {
    out <- switch(has[i], both = c("A", "B"), A = "A", B = "B")
    v <- round(runif(2, 0.02, 0.12), 6)
    S <- diag(v); S[1, 2] <- S[2, 1] <- round(r_within * sqrt(prod(v)), 6)
    u <- as.vector(t(chol(Tm)) %*% rnorm(2))
    e <- as.vector(t(chol(S)) %*% rnorm(2))
    y <- c(0.4, 0.1) + u + e
    idx <- match(out, c("A", "B"))
    rows[[i]] <- data.frame(study = i, outcome = out, yi = round(y[idx], 6), vi = v[idx])
    blocks[[i]] <- S[idx, idx, drop = FALSE]
  }
  list(data = do.call(rbind, rows), V = bldiag(blocks))
}
sims <- list()
sims[["sim/01"]] <- list(data = sim_three_level(5, c(0.10, 0.05)))
sims[["sim/02"]] <- list(data = sim_three_level(12, c(0.05, 0.02)))
sims[["sim/03"]] <- list(data = sim_three_level(20, c(0.08, 1e-6)))
sims[["sim/04"]] <- list(data = sim_three_level(30, c(1e-6, 0.06)))
sims[["sim/05"]] <- list(data = sim_three_level(15, c(0.2, 0.1), mods = TRUE))
sims[["sim/06"]] <- list(data = sim_three_level(25, c(0.03, 0.03), mods = TRUE))
sims[["sim/07"]] <- list(data = sim_three_level(8, c(0.15, 0.01), mods = TRUE))
sims[["sim/08"]] <- sim_mv(20, c(0.05, 0.10), 0.5, 0.6)
sims[["sim/09"]] <- sim_mv(30, c(0.02, 0.04), -0.3, 0.4)
sims[["sim/10"]] <- list(data = sim_three_level(18, c(0.06, 0.04), mods = TRUE))
for (nm in c("sim/08", "sim/09")) sims[[nm]]$data$vi <- diag(sims[[nm]]$V)

## longitudinal set for AR / HAR: 14 studies, 4 time points, some points missing; AR(1)
## true effects, independent sampling errors
ar_dat <- local({
  rows <- list()
  for (i in 1:14) {
    tm <- 1:4
    if (i %% 5 == 0) tm <- tm[-sample(2:4, 1)]
    R <- 0.7^abs(outer(1:4, 1:4, "-"))
    sd <- sqrt(c(0.05, 0.07, 0.09, 0.12))
    u <- as.vector(t(chol(R * outer(sd, sd))) %*% rnorm(4))
    vi <- round(runif(4, 0.02, 0.1), 6)
    yi <- c(0.2, 0.3, 0.35, 0.4) + u + rnorm(4, 0, sqrt(vi))
    rows[[i]] <- data.frame(study = i, time = tm, yi = round(yi[tm], 6), vi = vi[tm])
  }
  do.call(rbind, rows)
})

## --------------------------------------------------------------- fitting ---
env <- environment()
fits <- list()
out <- list()
comps <- function(r) {
  c(if (r$withS) r$sigma2[!r$vc.fix$sigma2] else NULL,
    if (r$withG) c(r$tau2[!r$vc.fix$tau2], r$rho[!r$vc.fix$rho]) else NULL,
    if (r$withH) c(r$gamma2[!r$vc.fix$gamma2], r$phi[!r$vc.fix$phi]) else NULL)
}
fml_text <- function(f) if (is.null(f)) NULL else paste(deparse(f, width.cutoff = 500), collapse = " ")

i2_levels <- function(res) {
  W <- solve(res$V)
  X <- model.matrix(res)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  i2 <- 100 * res$sigma2 / (sum(res$sigma2) + (res$k - res$p) / sum(diag(P)))
  list(I2 = arr(i2), I2_total = sum(i2), typical_v = (res$k - res$p) / sum(diag(P)))
}

ranef_list <- function(res) {
  re <- ranef(res)
  lapply(re, function(d) {
    d <- as.data.frame(d)
    o <- list(names = arr(rownames(d)))
    for (nm in names(d)) o[[nm]] <- arr(d[[nm]])
    o
  })
}

confint_list <- function(res) {
  ## the profile refits reuse the fit's control; with CTRL (rel.tol 1e-12) nlminb stops with
  ## "false convergence" at many profile points and confint() reports NA bounds, so the
  ## profile runs with nlminb's default tolerances (CTRL_FB)
  res$control <- CTRL_FB
  ci <- confint(res, control = CI_CTRL)
  one <- function(x) {
    r <- x$random
    setNames(lapply(seq_len(nrow(r)), function(i) list(estimate = r[i, 1], ci_lb = r[i, 2],
                                                          ci_ub = r[i, 3])),
             rownames(r))
  }
  if (inherits(ci, "list.confint.rma")) {
    o <- list()
    for (x in ci) if (is.list(x) && !is.null(x$random)) o <- c(o, one(x))
    o
  } else {
    one(ci)
  }
}

pred_list <- function(p) {
  p <- as.data.frame(p)
  o <- list()
  for (nm in c("pred", "se", "ci.lb", "ci.ub", "pi.lb", "pi.ub", "tau2.level")) {
    if (nm %in% names(p)) o[[gsub(".", "_", nm, fixed = TRUE)]] <- arr(p[[nm]])
  }
  o
}

fitstats_list <- function(res) {
  fs <- fitstats(res)
  list(logLik = fs[1, 1], deviance = fs[2, 1], AIC = fs[3, 1], BIC = fs[4, 1], AICc = fs[5, 1],
       ML = arr(res$fit.stats$ML), REML = arr(res$fit.stats$REML),
       fit_stats_rows = arr(rownames(res$fit.stats)), parms = res$parms)
}

## fit one case: id, the rma.mv call (quoted, without control), the data set label
fit_case <- function(id, call, dataset, extra = list(), confint = FALSE, newmods = NULL,
                     pred_args = list(), resid = FALSE, inline = NULL) {
  t0 <- proc.time()[["elapsed"]]
  cl <- call
  cl$control <- quote(CTRL)
  res <- try(eval(cl, env), silent = TRUE)
  control_used <- "CTRL"
  if (inherits(res, "try-error")) {
    cl$control <- quote(CTRL_FB)
    res <- eval(cl, env)
    control_used <- "CTRL_FB"
  }
  ## check 1: optim's BFGS from metafor's default starting values; check 2: nlminb (CTRL)
  ## restarted from the BFGS estimates (a different path to the same optimum)
  cl2 <- call
  cl2$control <- quote(CTRL2)
  res2 <- try(eval(cl2, env), silent = TRUE)
  cmp <- function(r2, label) {
    if (inherits(r2, "try-error")) {
      return(list(optimizer2 = label, error = conditionMessage(attr(r2, "condition"))))
    }
    a <- comps(res); b <- comps(r2)
    list(optimizer2 = label,
         max_abs_diff = if (length(a)) max(abs(a - b)) else 0,
         max_rel_diff = if (length(a)) max(abs(a - b) / pmax(abs(a), 1e-8)) else 0,
         logLik_diff = as.numeric(logLik(res)) - as.numeric(logLik(r2)))
  }
  check <- cmp(res2, "optim BFGS (CTRL2)")
  if (!inherits(res2, "try-error")) {
    ctl3 <- get(control_used)
    pos <- function(x) pmax(x, 1e-6)
    if (res2$withS) ctl3$sigma2.init <- pos(res2$sigma2)
    if (res2$withG) { ctl3$tau2.init <- pos(res2$tau2); ctl3$rho.init <- pmin(pmax(res2$rho, -0.99), 0.99) }
    if (res2$withH) { ctl3$gamma2.init <- pos(res2$gamma2); ctl3$phi.init <- pmin(pmax(res2$phi, -0.99), 0.99) }
    cl3 <- call
    cl3$control <- ctl3
    r3 <- try(eval(cl3, env), silent = TRUE)
    if (inherits(r3, "try-error")) {
      cl3$control <- c(CTRL_FB, ctl3[setdiff(names(ctl3), names(CTRL))])
      r3 <- try(eval(cl3, env), silent = TRUE)
    }
    check$restart <- cmp(r3, "nlminb restarted from the BFGS estimates")
  }
  V_is_matrix <- !identical(call[[3]], quote(vi))
  random <- if (is.null(call$random)) NULL else eval(call$random)
  if (inherits(random, "formula")) random <- list(random)
  o <- list(
    dataset = dataset,
    call = paste(deparse(call, width.cutoff = 500), collapse = " "),
    random = nn(if (is.null(random)) NULL else arr(vapply(random, fml_text, ""))),
    struct = arr(res$struct), method = res$method, test = res$test, dfs = res$dfs,
    mods = nn(fml_text(call$mods)),
    fixed = lapply(list(sigma2 = call$sigma2, tau2 = call$tau2, rho = call$rho,
                        gamma2 = call$gamma2, phi = call$phi),
                   function(e) if (is.null(e)) NA else arr(eval(e))),
    V = if (V_is_matrix) mat(res$V) else NA,
    X = mat(model.matrix(res)), yi = arr(res$yi),
    coef_names = arr(rownames(res$beta)),
    beta = arr(res$beta), se = arr(res$se), zval = arr(res$zval), pval = arr(res$pval),
    ci_lb = arr(res$ci.lb), ci_ub = arr(res$ci.ub), vb = mat(res$vb),
    ddf = if (res$test == "t") arr(res$ddf) else NA,
    QE = res$QE, QEdf = res$k - res$p, QEp = res$QEp, QM = res$QM, QMdf = arr(res$QMdf),
    QMp = res$QMp, btt = arr(res$btt), k = res$k, p = res$p,
    fitstats = fitstats_list(res), control_used = control_used, check = check)
  if (!is.null(inline)) o$inline <- inline
  if (res$withS) {
    o$sigma2 <- arr(res$sigma2); o$s_names <- arr(res$s.names)
    o$s_nlevels <- arr(res$s.nlevels); o$s_fix <- arr(res$vc.fix$sigma2)
  }
  if (res$withG) {
    o$tau2 <- arr(res$tau2); o$rho <- arr(res$rho); o$g_names <- arr(res$g.names)
    o$g_levels_f <- arr(res$g.levels.f[[1]]); o$g_levels_k <- arr(res$g.levels.k)
    o$g_levels_comb_k <- arr(res$g.levels.comb.k); o$g_nlevels_f <- arr(res$g.nlevels.f)
    o$g_nlevels <- arr(res$g.nlevels)
  }
  if (res$withH) {
    o$gamma2 <- arr(res$gamma2); o$phi <- arr(res$phi); o$h_names <- arr(res$h.names)
    o$h_levels_f <- arr(res$h.levels.f[[1]]); o$h_nlevels_f <- arr(res$h.nlevels.f)
    o$h_nlevels <- arr(res$h.nlevels)
  }
  if (res$withS && !res$withG && !res$withH) o$I2 <- i2_levels(res)
  if (res$withS || res$withG || res$withH) o$ranef <- ranef_list(res)
  if (confint) o$confint <- confint_list(res)
  if (!is.null(newmods)) {
    p <- do.call(predict, c(list(res, newmods = newmods), pred_args))
    o$predict <- c(list(newmods = mat(newmods), args = pred_args), pred_list(p))
  }
  if (resid) {
    o$fitted <- arr(fitted(res)); o$residuals <- arr(residuals(res))
    rs <- rstandard(res)
    o$rstandard <- list(resid = arr(rs$resid), se = arr(rs$se), z = arr(rs$z))
  }
  o <- c(o, extra)
  fits[[id]] <<- res
  out[[id]] <<- o
  ## summary for the .Rout
  vc <- c(if (res$withS) paste0("sigma2=", paste(signif(res$sigma2, 8), collapse = ",")),
          if (res$withG) paste0("tau2=", paste(signif(res$tau2, 8), collapse = ","),
                                " rho=", paste(signif(res$rho, 8), collapse = ",")),
          if (res$withH) paste0("gamma2=", paste(signif(res$gamma2, 8), collapse = ","),
                                " phi=", paste(signif(res$phi, 8), collapse = ",")))
  cat(sprintf("== %s  [%s]\n   %s\n", id, dataset, o$call))
  cat(sprintf("   k=%d p=%d %s struct=%s  %s\n", res$k, res$p, res$method,
              paste(res$struct, collapse = "/"), paste(vc, collapse = " ")))
  cat(sprintf("   beta=%s\n   se=%s\n", paste(signif(res$beta, 9), collapse = ","),
              paste(signif(res$se, 9), collapse = ",")))
  cat(sprintf("   logLik=%.10f QE=%.8f QM=%.8f%s\n", fitstats(res)[1, 1], res$QE, res$QM,
              if (res$test == "t") paste0(" ddf=", paste(res$ddf, collapse = ",")) else ""))
  if (!is.null(o$I2)) cat(sprintf("   I2=%s total=%.6f\n", paste(signif(o$I2$I2, 7), collapse = ","),
                                  o$I2$I2_total))
  if (!is.null(check$error)) {
    cat("   BFGS refit failed:", check$error, "\n")
  } else {
    cat(sprintf("   BFGS check: max|d vc|=%.3g rel=%.3g dlogLik=%.3g", check$max_abs_diff,
                check$max_rel_diff, check$logLik_diff))
    rs <- check$restart
    if (!is.null(rs$error)) cat(" | restart failed:", rs$error) else
      cat(sprintf(" | restart: rel=%.3g dlogLik=%.3g", rs$max_rel_diff, rs$logLik_diff))
    cat(sprintf("  [%s] (%.1fs)\n", control_used, proc.time()[["elapsed"]] - t0))
  }
  invisible(res)
}

## ---------------------------------------------------- 1. konstantopoulos ---
K11 <- "dat.konstantopoulos2011.csv"
fit_case("k11/ml3/REML", quote(rma.mv(yi, vi, random = ~ 1 | district/school, data = k11)), K11,
         confint = TRUE, resid = TRUE)
fit_case("k11/ml3/ML", quote(rma.mv(yi, vi, random = ~ 1 | district/school, data = k11,
                                    method = "ML")), K11, confint = TRUE)
fit_case("k11/ml3/year", quote(rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school,
                                      data = k11)), K11, newmods = c(1980, 2000))
fit_case("k11/ml3/year/ML", quote(rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school,
                                         data = k11, method = "ML")), K11)
fit_case("k11/CS", quote(rma.mv(yi, vi, random = ~ school | district, data = k11)), K11,
         confint = TRUE)
fit_case("k11/ID", quote(rma.mv(yi, vi, random = ~ school | district, struct = "ID",
                                data = k11)), K11)
fit_case("k11/ml3/t/residual", quote(rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school,
                                            data = k11, test = "t", dfs = "residual")), K11,
         newmods = c(1980, 2000))
fit_case("k11/ml3/t/contain", quote(rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school,
                                           data = k11, test = "t", dfs = "contain")), K11,
         newmods = c(1980, 2000))
fit_case("k11/ml3/int/t/contain", quote(rma.mv(yi, vi, random = ~ 1 | district/school,
                                               data = k11, test = "t", dfs = "contain")), K11)
fit_case("k11/ml3/sigma2fixed", quote(rma.mv(yi, vi, random = ~ 1 | district/school, data = k11,
                                             sigma2 = c(NA, 0))), K11)
fit_case("k11/ml3/sigma2fixed/ML", quote(rma.mv(yi, vi, random = ~ 1 | district/school, data = k11,
                                                sigma2 = c(NA, 0), method = "ML")), K11)
fit_case("k11/ml2/study", quote(rma.mv(yi, vi, random = ~ 1 | study, data = k11)), K11)
out[["k11/CS"]]$equals_ml3 <- list(
  tau2_minus_sum_sigma2 = fits[["k11/CS"]]$tau2 - sum(fits[["k11/ml3/REML"]]$sigma2),
  rho_minus_icc = fits[["k11/CS"]]$rho -
    fits[["k11/ml3/REML"]]$sigma2[1] / sum(fits[["k11/ml3/REML"]]$sigma2),
  logLik_diff = as.numeric(logLik(fits[["k11/CS"]])) - as.numeric(logLik(fits[["k11/ml3/REML"]])))
cat("   k11/CS vs ml3: ", unlist(out[["k11/CS"]]$equals_ml3), "\n")

## ------------------------------------------------------------ 2. berkey ---
BK <- "dat.berkey1998.csv"
fit_case("berkey/UN", quote(rma.mv(yi, V_berkey, mods = ~ outcome - 1, random = ~ outcome | trial,
                                   struct = "UN", data = berkey)), BK, confint = TRUE,
         resid = TRUE, newmods = rbind(c(1, 0), c(0, 1)), pred_args = list(tau2.levels = 1:2),
         extra = list(anova_X = local({
           a <- anova(rma.mv(yi, V_berkey, mods = ~ outcome - 1, random = ~ outcome | trial,
                             struct = "UN", data = berkey, control = CTRL), X = c(1, -1))
           list(X = arr(c(1, -1)), Xb = arr(a$Xb), se = arr(a$se), zval = arr(a$zval),
                pval = arr(a$pval), QM = a$QM, QMp = a$QMp)
         }), vcalc = list(call = "vcalc(vi = 1, cluster = author, rvars = c(v1i, v2i), data = berkey)",
                          max_abs_diff_to_bldiag = vcalc_check)))
for (st in c("CS", "HCS", "DIAG", "ID")) {
  cl <- bquote(rma.mv(yi, V_berkey, mods = ~ outcome - 1, random = ~ outcome | trial,
                      struct = .(st), data = berkey))
  fit_case(paste0("berkey/", st), cl, BK, confint = st == "HCS")
}
fit_case("berkey/UN/year/ML", quote(rma.mv(yi, V_berkey, mods = ~ outcome + outcome:I(year - 1983) - 1,
                                           random = ~ outcome | trial, struct = "UN",
                                           data = berkey, method = "ML")), BK,
         newmods = rbind(c(1, 0, -3, 0), c(0, 1, 0, 5)), pred_args = list(tau2.levels = 1:2))
fit_case("berkey/UN/year", quote(rma.mv(yi, V_berkey, mods = ~ outcome + outcome:I(year - 1983) - 1,
                                        random = ~ outcome | trial, struct = "UN",
                                        data = berkey)), BK)

## ------------------------------------------------------------ 3. assink ---
AS <- "dat.assink2016.csv"
fit_case("assink/ml3", quote(rma.mv(yi, vi, random = ~ 1 | study/esid, data = assink)), AS,
         confint = TRUE)
fit_case("assink/ml3/deltype", quote(rma.mv(yi, vi, mods = ~ deltype, random = ~ 1 | study/esid,
                                            data = assink)), AS,
         newmods = rbind(c(0, 0), c(1, 0)),
         extra = list(anova_btt = local({
           a <- anova(rma.mv(yi, vi, mods = ~ deltype, random = ~ 1 | study/esid, data = assink,
                             control = CTRL), btt = 2:3)
           list(btt = arr(2:3), QM = a$QM, QMdf = arr(a$QMdf), QMp = a$QMp)
         })))
fit_case("assink/ml3/year", quote(rma.mv(yi, vi, mods = ~ year, random = ~ 1 | study/esid,
                                         data = assink)), AS, newmods = c(-5, 5))
fit_case("assink/ml3/year+deltype", quote(rma.mv(yi, vi, mods = ~ year + deltype,
                                                 random = ~ 1 | study/esid, data = assink)), AS)
fit_case("assink/ml3/pubstatus", quote(rma.mv(yi, vi, mods = ~ pubstatus,
                                              random = ~ 1 | study/esid, data = assink)), AS)
fit_case("assink/ml3/sigma2=c(0,NA)", quote(rma.mv(yi, vi, random = ~ 1 | study/esid, data = assink,
                                                   sigma2 = c(0, NA))), AS)
fit_case("assink/ml3/V", quote(rma.mv(yi, V_assink, random = ~ 1 | study/esid, data = assink)), AS,
         extra = list(vcalc = "vcalc(vi, cluster = study, obs = esid, data = assink, rho = 0.6)"))
fit_case("assink/ml3/ML", quote(rma.mv(yi, vi, random = ~ 1 | study/esid, data = assink,
                                       method = "ML")), AS)
fit_case("assink/ml3/deltype/ML", quote(rma.mv(yi, vi, mods = ~ deltype,
                                               random = ~ 1 | study/esid, data = assink,
                                               method = "ML")), AS)
## LRTs: nested ML fits differing in the fixed effects, and REML fits differing in a
## variance component (as metadat's example)
lrt_list <- function(a) {
  list(LRT = a$LRT, pval = a$pval, df_full = a$parms.f, df_reduced = a$parms.r,
       fit_stats_full = arr(a$fit.stats.f), fit_stats_reduced = arr(a$fit.stats.r),
       fit_stats_names = arr(names(a$fit.stats.f)), QE_full = a$QE.f, QE_reduced = a$QE.r)
}
a_ml <- anova(fits[["assink/ml3/deltype/ML"]], fits[["assink/ml3/ML"]])
out[["assink/ml3/deltype/ML"]]$anova_full_reduced <- c(
  list(full = "assink/ml3/deltype/ML", reduced = "assink/ml3/ML"), lrt_list(a_ml))
cat(sprintf("   anova(deltype/ML, ML): LRT=%.10f p=%.10g\n", a_ml$LRT, a_ml$pval))
a_vc <- anova(fits[["assink/ml3"]], fits[["assink/ml3/sigma2=c(0,NA)"]])
out[["assink/ml3"]]$anova_vs_sigma2_0 <- c(
  list(full = "assink/ml3", reduced = "assink/ml3/sigma2=c(0,NA)"), lrt_list(a_vc))
cat(sprintf("   anova(ml3, sigma2=c(0,NA)): LRT=%.10f p=%.10g\n", a_vc$LRT, a_vc$pval))

## ----------------------------------------------------- 4./5. networks ---
SN <- "dat.senn2013.csv"
fit_case("senn/contrast", quote(rma.mv(yi, V_senn, mods = ~ acarbose + benfluorex + metformin +
                                         miglitol + pioglitazone + rosiglitazone + sitagliptin +
                                         sulfonylurea + vildagliptin - 1,
                                       random = ~ comp | study, rho = 1/2, data = senn)), SN,
         newmods = rbind(c(1, -1, 0, 0, 0, 0, 0, 0, 0), c(0, 0, 1, 0, 0, 0, 0, 0, -1)))
fit_case("senn/inconsistency", quote(rma.mv(yi, V_senn, mods = ~ acarbose + benfluorex + metformin +
                                              miglitol + pioglitazone + rosiglitazone +
                                              sitagliptin + sulfonylurea + vildagliptin - 1,
                                            random = list(~ comp | study, ~ comp | design),
                                            rho = 1/2, phi = 1/2, data = senn)), SN)
HS <- "dat.hasselblad1998.contrast.csv"
fit_case("hasselblad/contrast", quote(rma.mv(yi, V_hass, mods = ~ self_help + ind_counseling +
                                               grp_counseling - 1, random = ~ comp | study,
                                             rho = 1/2, data = hass)), HS,
         newmods = diag(3))
fit_case("hasselblad/inconsistency", quote(rma.mv(yi, V_hass, mods = ~ self_help + ind_counseling +
                                                    grp_counseling - 1,
                                                  random = list(~ comp | study, ~ comp | design),
                                                  rho = 1/2, phi = 1/2, data = hass)), HS)
fit_case("hasselblad/arm", quote(rma.mv(yi, vi, mods = ~ factor(study) + trt - 1,
                                        random = ~ trt | study, rho = 1/2, data = hass_arm,
                                        btt = "trt")), "dat.hasselblad1998.csv",
         extra = list(escalc = "escalc(measure = 'PLO', xi = xi, ni = ni, add = 1/2, to = 'all'); trt levels no_contact, self_help, ind_counseling, grp_counseling (each with a leading space)"))

## -------------------------------------------------------- 6. AR / HAR ---
ar_inline <- list(study = arr(ar_dat$study), time = arr(ar_dat$time), yi = arr(ar_dat$yi),
                  vi = arr(ar_dat$vi))
fit_case("ar/AR", quote(rma.mv(yi, vi, mods = ~ factor(time) - 1, random = ~ time | study,
                               struct = "AR", data = ar_dat)), "inline", inline = ar_inline,
         confint = TRUE)
fit_case("ar/HAR", quote(rma.mv(yi, vi, mods = ~ factor(time) - 1, random = ~ time | study,
                                struct = "HAR", data = ar_dat)), "inline", inline = ar_inline)
fit_case("ar/HCS", quote(rma.mv(yi, vi, mods = ~ factor(time) - 1, random = ~ factor(time) | study,
                                struct = "HCS", data = ar_dat)), "inline", inline = ar_inline)
fit_case("ar/AR/int", quote(rma.mv(yi, vi, random = ~ time | study, struct = "AR",
                                   data = ar_dat)), "inline", inline = ar_inline)

## ---------------------------------------------------------- 7. simulated ---
for (nm in names(sims)) {
  simdat <- sims[[nm]]$data
  inline <- lapply(as.list(simdat), arr)
  if (nm %in% c("sim/08", "sim/09")) {
    V_sim <- sims[[nm]]$V
    fit_case(nm, quote(rma.mv(yi, V_sim, mods = ~ outcome - 1, random = ~ outcome | study,
                              struct = "UN", data = simdat)), "inline", inline = inline,
             confint = nm == "sim/08")
  } else if (nm == "sim/10") {
    fit_case(nm, quote(rma.mv(yi, vi, mods = ~ x + g, random = ~ esid | cluster, struct = "CS",
                              data = simdat)), "inline", inline = inline,
             newmods = rbind(c(0.5, 0, 0), c(-1, 1, 0)))
  } else if (nm %in% c("sim/05", "sim/06", "sim/07")) {
    fit_case(nm, quote(rma.mv(yi, vi, mods = ~ x + g, random = ~ 1 | cluster/esid, data = simdat)),
             "inline", inline = inline, newmods = rbind(c(0.5, 0, 0), c(-1, 1, 0)))
  } else {
    fit_case(nm, quote(rma.mv(yi, vi, random = ~ 1 | cluster/esid, data = simdat)), "inline",
             inline = inline, confint = nm == "sim/03")
  }
}

## ----------------------------------------------------------- 8. robust ---
robust_list <- function(r) {
  list(se = arr(r$se), tval = arr(r$zval), df = arr(r$dfs), ddf = arr(r$ddf), pval = arr(r$pval),
       ci_lb = arr(r$ci.lb), ci_ub = arr(r$ci.ub), QM = r$QM, QMdf = arr(r$QMdf), QMp = r$QMp,
       vb = mat(r$vb), test = r$test)
}
for (cs in list(list("robust/k11/year", "k11/ml3/year", quote(district)),
                list("robust/k11/int", "k11/ml3/REML", quote(district)),
                list("robust/assink/deltype", "assink/ml3/deltype", quote(study)),
                list("robust/assink/V", "assink/ml3/V", quote(study)))) {
  res <- fits[[cs[[2]]]]
  dat <- if (startsWith(cs[[2]], "k11")) k11 else assink
  clus <- eval(cs[[3]], dat)
  r1 <- robust(res, cluster = clus)
  r2 <- robust(res, cluster = clus, clubSandwich = TRUE)
  o <- list(model = cs[[2]], cluster = deparse(cs[[3]]), n_clusters = length(unique(clus)),
            CR1 = robust_list(r1), CR2 = robust_list(r2))
  if (!res$int.only) {
    w <- Wald_test(res, constraints = constrain_zero(res$btt), vcov = "CR2", cluster = clus,
                   test = "HTZ")
    o$CR2$HTZ <- list(Fstat = w$Fstat, delta = w$delta, df_num = w$df_num,
                      df_denom = w$df_denom, p_val = w$p_val)
  }
  out[[cs[[1]]]] <- o
  cat(sprintf("== %s  (%s, cluster=%s, %d clusters)\n   CR1 se=%s df=%s QM=%.8g\n   CR2 se=%s df=%s QM=%.8g\n",
              cs[[1]], cs[[2]], o$cluster, o$n_clusters,
              paste(signif(r1$se, 9), collapse = ","), paste(r1$dfs, collapse = ","), r1$QM,
              paste(signif(r2$se, 9), collapse = ","), paste(signif(r2$dfs, 9), collapse = ","),
              r2$QM))
}

## ------------------------------------------------------------- output ---
getnum <- function(x) if (is.null(x)) NA_real_ else x
for (w in c("BFGS", "restart")) {
  ck <- lapply(out, function(o) if (w == "BFGS") o$check else o$check$restart)
  rel <- vapply(ck, function(c) getnum(c$max_rel_diff), 0)
  dll <- vapply(ck, function(c) getnum(c$logLik_diff), 0)
  cat("\nOptimiser check (", w, ") over", sum(!is.na(rel)), "fits: max rel diff of components",
      "(floor 1e-8) =", format(max(rel, na.rm = TRUE), digits = 3),
      "; logLik diff (nlminb - other) in [", format(min(dll, na.rm = TRUE), digits = 3), ",",
      format(max(dll, na.rm = TRUE), digits = 3), "]\n")
  worst <- names(sort(rel, decreasing = TRUE))[1:3]
  cat("   largest:", paste(sprintf("%s %.3g", worst, rel[worst]), collapse = "; "), "\n")
}
n_fb <- sum(vapply(out, function(o) identical(o$control_used, "CTRL_FB"), TRUE))
cat("fits that needed CTRL_FB:", n_fb, "\n")

meta <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
             metadat = as.character(packageVersion("metadat")),
             clubSandwich = as.character(packageVersion("clubSandwich")),
             control = CTRL, control_fallback = CTRL_FB, control_check = CTRL2, confint_control = CI_CTRL,
             I2_method = paste("metafor website: W <- solve(res$V); P <- W - W X (X'WX)^-1 X'W;",
                               "I2 = 100 * sigma2 / (sum(sigma2) + (k - p) / tr(P))"),
             seed = 20261206)
write_json(list(meta = meta, cases = out), json_path, digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")
cat("\n", length(out), "cases written to multilevel.json in",
    round(proc.time()[["elapsed"]] - t_start), "s\n")
