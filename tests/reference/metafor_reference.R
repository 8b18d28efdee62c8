## ---------------------------------------------------------------------------
## metafor_reference.R -- reference values for the `metareview` test-suite
##
## Re-run with:
##     cd tests/reference && Rscript metafor_reference.R > metafor_reference.Rout 2>&1
##
## Requires R >= 4.2, metafor 3.8-1, metadat, jsonlite.
## Writes:
##   tests/data/dat.<name>.csv              (the metadat datasets used)
##   src/metareview/data/bcg.csv            (bundled demo dataset)
##   tests/reference/metafor_reference.json (all reference values)
## The structure of the JSON file is documented in tests/reference/README.md.
##
## All computations are done on the data *as read back from the CSV files*,
## so that the Python side (which reads the same CSVs) sees bit-identical input.
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

options(warn = 1, stringsAsFactors = FALSE, na.action = "na.omit")

## ---- locate the repository ------------------------------------------------
script_dir <- local({
  fa <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(fa)) dirname(normalizePath(sub("^--file=", "", fa[1]))) else getwd()
})
repo_root <- normalizePath(file.path(script_dir, "..", ".."))
data_dir  <- file.path(repo_root, "tests", "data")
pkg_data_dir <- file.path(repo_root, "src", "metareview", "data")
json_path <- file.path(repo_root, "tests", "reference", "metafor_reference.json")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)
dir.create(pkg_data_dir, showWarnings = FALSE, recursive = TRUE)

## ---- precision controls ---------------------------------------------------
CTRL      <- list(threshold = 1e-13, tol = 1e-13, maxiter = 10000)  # rma()
CI_CTRL   <- list(tol = 1e-13, maxiter = 10000)                      # confint()
METHODS   <- c("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")
TESTS     <- c("z", "t", "knha")

cat("metafor reference generation\n")
cat("R:", R.version.string, "\n")
cat("metafor:", as.character(packageVersion("metafor")),
    " metadat:", as.character(packageVersion("metadat")),
    " jsonlite:", as.character(packageVersion("jsonlite")), "\n")
cat("rma control: threshold=1e-13 tol=1e-13 maxiter=10000; confint control: tol=1e-13 maxiter=10000\n\n")

## ---- small helpers ----------------------------------------------------------
## scalar: NULL / zero-length -> NA (-> JSON null); strip names/attributes
sc <- function(x) {
  if (is.null(x) || length(x) == 0) return(NA)
  x <- unname(x)
  if (is.factor(x)) x <- as.character(x)
  if (is.numeric(x) || is.logical(x)) x <- as.vector(x)
  x[[1]]
}
## array: always a JSON array (even of length 1 / 0)
arr <- function(x) {
  if (is.null(x)) return(I(numeric(0)))
  x <- unname(x)
  if (is.factor(x)) x <- as.character(x)
  I(as.vector(x))
}
## matrix -> list of row arrays
mat <- function(m) {
  m <- as.matrix(m)
  lapply(seq_len(nrow(m)), function(i) arr(m[i, ]))
}
## 0-based row indices from a logical vector
rows0 <- function(lgl) arr(as.integer(which(lgl) - 1L))
## evaluate, collecting warnings; errors are returned as list(error=msg)
run <- function(expr) {
  warns <- character(0)
  val <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(list(error = conditionMessage(e)),
                                                  class = "run_error")),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(value = val, warnings = unique(warns))
}
is_err <- function(v) inherits(v, "run_error")
## Fit with CTRL; the Fisher-scoring convergence criterion is an *absolute* change
## in tau^2, so when tau^2 is large (e.g. raw mean differences, tau^2 ~ 700) a
## threshold of 1e-13 is below the floating-point resolution of tau^2 and the
## algorithm cannot "converge".  Only in that case the threshold is relaxed
## step-wise (1e-12, 1e-11, 1e-10); the control actually used is recorded.
THRESHOLDS <- c(1e-13, 1e-12, 1e-11, 1e-10)
run_fit <- function(fitfun) {
  for (th in THRESHOLDS) {
    ctrl <- modifyList(CTRL, list(threshold = th))
    r <- run(fitfun(ctrl))
    r$control <- ctrl
    if (!is_err(r$value) || !grepl("did not converge", r$value$error)) return(r)
  }
  r
}
fmt <- function(x, d = 8) {
  if (is.null(x) || length(x) == 0) return("NULL")
  paste(ifelse(is.na(x), "NA", formatC(x, digits = d, format = "g")), collapse = ",")
}
log_line <- function(...) cat(..., "\n", sep = "")

## ---- dataset specifications -------------------------------------------------
## type: "2x2" (ai,bi,ci,di), "binary_n" (ai,n1i,ci,n2i), "means", "prop", "cor", "gen"
specs <- list(
  bcg = list(name = "dat.bcg", type = "2x2",
             cols = list(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg"),
             label_expr = "paste(author, year)", year = "year",
             measures = c("RR", "OR", "RD")),
  egger2001 = list(name = "dat.egger2001", type = "binary_n",
             cols = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"),
             label_expr = "paste(study, year)", year = "year",
             measures = c("RR", "OR", "RD")),
  li2007 = list(name = "dat.li2007", type = "binary_n",
             cols = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"),
             label_expr = "paste(study, year)", year = "year",
             measures = c("RR", "OR", "RD")),
  nielweise2007 = list(name = "dat.nielweise2007", type = "binary_n",
             cols = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"),
             label_expr = "paste(author, year)", year = "year",
             measures = c("RR", "OR", "RD")),
  hine1989 = list(name = "dat.hine1989", type = "binary_n",
             cols = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"),
             label_expr = "source", year = NULL,
             measures = c("RR", "OR", "RD")),
  normand1999 = list(name = "dat.normand1999", type = "means",
             cols = list(m1i = "m1i", sd1i = "sd1i", n1i = "n1i",
                         m2i = "m2i", sd2i = "sd2i", n2i = "n2i"),
             label_expr = "source", year = NULL,
             measures = c("MD", "SMD", "ROM")),
  curtis1998 = list(name = "dat.curtis1998", type = "means",
             cols = list(m1i = "m1i", sd1i = "sd1i", n1i = "n1i",
                         m2i = "m2i", sd2i = "sd2i", n2i = "n2i"),
             label_expr = "paste0(\"id\", id)", year = NULL,
             measures = c("MD", "SMD", "ROM")),
  pritz1997 = list(name = "dat.pritz1997", type = "prop",
             cols = list(xi = "xi", ni = "ni"),
             label_expr = "authors", year = NULL,
             measures = c("PLO", "PR", "PFT", "PAS")),
  molloy2014 = list(name = "dat.molloy2014", type = "cor",
             cols = list(ri = "ri", ni = "ni"),
             label_expr = "paste(authors, year)", year = "year",
             measures = c("COR", "ZCOR")),
  mcdaniel1994 = list(name = "dat.mcdaniel1994", type = "cor",
             cols = list(ri = "ri", ni = "ni"),
             label_expr = "paste(\"Study\", study)", year = NULL,
             measures = c("COR", "ZCOR")),
  hackshaw1998 = list(name = "dat.hackshaw1998", type = "gen",
             cols = list(yi = "yi", vi = "vi"),
             label_expr = "paste(author, year)", year = "year",
             measures = c("GEN")),
  bangertdrowns2004 = list(name = "dat.bangertdrowns2004", type = "gen",
             cols = list(yi = "yi", vi = "vi"),
             label_expr = "paste(author, year)", year = "year",
             measures = c("GEN")),
  raudenbush1985 = list(name = "dat.raudenbush1985", type = "gen",
             cols = list(yi = "yi", vi = "vi"),
             label_expr = "paste(author, year)", year = "year",
             measures = c("GEN"))
)

## ---- export CSVs and read them back ----------------------------------------
DATA <- list()
datasets_json <- list()
cat("== datasets ==\n")
for (short in names(specs)) {
  sp <- specs[[short]]
  raw <- get(sp$name, envir = asNamespace("metadat"))
  raw <- as.data.frame(raw)
  class(raw) <- "data.frame"
  for (cn in names(raw)) attributes(raw[[cn]]) <- NULL
  csv_rel <- file.path("tests", "data", paste0(sp$name, ".csv"))
  write.csv(raw, file.path(repo_root, csv_rel), row.names = FALSE)
  d <- read.csv(file.path(repo_root, csv_rel), stringsAsFactors = FALSE)
  labels <- as.character(eval(parse(text = sp$label_expr), d))
  DATA[[short]] <- list(d = d, labels = labels)
  datasets_json[[short]] <- list(
    name = sp$name, csv = csv_rel, type = sp$type, n_rows = nrow(d),
    columns = as.list(unlist(sp$cols)),
    csv_columns = arr(names(d)),
    label_expr = sp$label_expr, labels = arr(labels),
    year_column = if (is.null(sp$year)) NA else sp$year,
    measures = arr(sp$measures))
  log_line(sprintf("%-18s %-24s rows=%3d type=%-8s cols=%s", short, sp$name, nrow(d), sp$type,
                   paste(names(sp$cols), unlist(sp$cols), sep = "=", collapse = " ")))
}

## bundled demo dataset
bcg_demo <- with(dat.bcg, data.frame(study = paste(author, year), tpos = tpos, tneg = tneg,
                                     cpos = cpos, cneg = cneg, ablat = ablat, year = year,
                                     alloc = alloc))
write.csv(bcg_demo, file.path(pkg_data_dir, "bcg.csv"), row.names = FALSE)
cat("wrote src/metareview/data/bcg.csv (", nrow(bcg_demo), "rows )\n\n")

## ---- escalc -------------------------------------------------------------------
ESC <- list()
escalc_json <- list()
escalc_args <- function(measure) {
  list(add = if (measure %in% c("PFT", "PAS")) 0 else 0.5,
       to = "only0",
       drop00 = measure %in% c("RR", "OR"),
       vtype = "LS")
}
cat("== escalc ==\n")
for (short in names(specs)) {
  sp <- specs[[short]]; d <- DATA[[short]]$d
  for (m in sp$measures) {
    id <- paste(short, m, sep = "/")
    args <- lapply(sp$cols, function(cn) d[[cn]])
    ea <- escalc_args(m)
    if (m %in% c("RR", "OR")) args$drop00 <- TRUE
    es <- do.call(escalc, c(list(measure = m), args))
    yi <- as.numeric(es$yi); vi <- as.numeric(es$vi)
    ni <- attr(es$yi, "ni")
    if (sp$type == "gen") ni <- NULL
    ESC[[id]] <- list(dataset = short, measure = m, yi = yi, vi = vi,
                      ni = if (is.null(ni)) NULL else as.numeric(ni), d = d)
    escalc_json[[length(escalc_json) + 1]] <- list(
      id = id, dataset = short, measure = m,
      args = ea,
      k = length(yi), k_nonmissing = sum(!is.na(yi) & !is.na(vi)),
      labels = arr(DATA[[short]]$labels),
      yi = arr(yi), vi = arr(vi),
      ni = if (is.null(ni)) NA else arr(as.numeric(ni)))
    log_line(sprintf("escalc %-24s k=%3d nonNA=%3d  yi[1:3]=%s  vi[1:3]=%s  NA rows0=%s", id,
                     length(yi), sum(!is.na(yi) & !is.na(vi)), fmt(head(yi, 3)), fmt(head(vi, 3)),
                     paste(which(is.na(yi) | is.na(vi)) - 1, collapse = ",")))
  }
}
cat("\n")

## ---- back-transformations -------------------------------------------------
back_transf <- function(measure) {
  switch(measure,
         RR = list(name = "exp", f = exp), OR = list(name = "exp", f = exp),
         ROM = list(name = "exp", f = exp),
         PLO = list(name = "transf.ilogit", f = transf.ilogit),
         PFT = list(name = "transf.ipft.hm", f = transf.ipft.hm),
         PAS = list(name = "transf.iarcsin", f = transf.iarcsin),
         ZCOR = list(name = "transf.ztor", f = transf.ztor),
         NULL)
}

fit_stats_list <- function(res) {
  fs <- res$fit.stats
  lapply(list(ML = "ML", REML = "REML"), function(col)
    list(ll = fs["ll", col], dev = fs["dev", col], AIC = fs["AIC", col],
         BIC = fs["BIC", col], AICc = fs["AICc", col]))
}

## ---- rma (intercept only) -------------------------------------------------------
fit_rma <- function(e, method, test, level = 95) {
  d <- data.frame(yi = e$yi, vi = e$vi)
  run_fit(function(ctrl)
    rma(yi, vi, data = d, method = method, test = test, level = level, control = ctrl))
}

rma_case <- function(eid, method, test, level) {
  e <- ESC[[eid]]
  id <- paste(eid, method, test, sep = "/")
  if (level != 95) id <- paste0(id, "/L", level)
  out <- list(id = id, dataset = e$dataset, measure = e$measure, method = method,
              test = test, level = level, control = CTRL)
  r <- fit_rma(e, method, test, level)
  res <- r$value
  out$control <- r$control
  out$warnings <- arr(as.character(r$warnings))
  if (is_err(res)) {
    out$error <- res$error
    log_line(sprintf("rma %-34s ERROR: %s", id, res$error))
    return(out)
  }
  out$included_rows0 <- rows0(res$not.na)
  out$k <- res$k; out$p <- res$p
  out$estimate <- sc(res$beta); out$se <- sc(res$se)
  out$zval <- sc(res$zval); out$pval <- sc(res$pval)
  out$ci_lb <- sc(res$ci.lb); out$ci_ub <- sc(res$ci.ub)
  out$ddf <- sc(res$ddf)
  out$tau2 <- sc(res$tau2); out$se_tau2 <- sc(res$se.tau2)
  out$I2 <- sc(res$I2); out$H2 <- sc(res$H2)
  out$QE <- sc(res$QE); out$QEdf <- res$k - res$p; out$QEp <- sc(res$QEp)
  out$QM <- sc(res$QM); out$QMdf <- arr(res$QMdf); out$QMp <- sc(res$QMp)
  out$s2w <- sc(res$s2w)
  pr <- predict(res)
  out$pred_se <- sc(pr$se)
  out$pi_lb <- sc(pr$pi.lb); out$pi_ub <- sc(pr$pi.ub)
  out$weights <- arr(weights(res))
  out$logLik_ML <- sc(res$fit.stats["ll", "ML"])
  out$logLik_REML <- sc(res$fit.stats["ll", "REML"])
  out$fit_stats <- fit_stats_list(res)
  if (method != "FE" && test == "z") {
    ci <- run(confint(res, control = CI_CTRL))
    if (is_err(ci$value)) {
      out$confint_error <- ci$value$error
    } else {
      rr <- ci$value$random
      out$tau2_ci <- arr(rr["tau^2", c("ci.lb", "ci.ub")])
      out$I2_ci <- arr(rr["I^2(%)", c("ci.lb", "ci.ub")])
      out$H2_ci <- arr(rr["H^2", c("ci.lb", "ci.ub")])
      out$tau2_ci_flags <- list(lb_sign = ci$value$lb.sign, ub_sign = ci$value$ub.sign,
                                ci_null = ci$value$ci.null)
      out$confint_warnings <- arr(as.character(ci$warnings))
      ## if a bound was truncated at metafor's default search limit
      ## (tau2.max = max(100, 10*tau2)), also give the CI with a very wide bracket
      if (ci$value$lb.sign == ">" || ci$value$ub.sign == ">") {
        ci2 <- run(confint(res, control = c(CI_CTRL, list(tau2.max = 1e7))))$value
        rr2 <- ci2$random
        out$tau2_ci_extended <- list(
          tau2_max = 1e7,
          tau2_ci = arr(rr2["tau^2", c("ci.lb", "ci.ub")]),
          I2_ci = arr(rr2["I^2(%)", c("ci.lb", "ci.ub")]),
          H2_ci = arr(rr2["H^2", c("ci.lb", "ci.ub")]),
          tau2_ci_flags = list(lb_sign = ci2$lb.sign, ub_sign = ci2$ub.sign,
                               ci_null = ci2$ci.null))
      }
    }
  }
  bt <- back_transf(e$measure)
  if (!is.null(bt)) {
    out$transf <- bt$name
    if (e$measure == "PFT") {
      ni_inc <- e$ni[res$not.na]
      out$transf_targs_ni <- arr(ni_inc)
      pb <- predict(res, transf = bt$f, targs = list(ni = ni_inc))
    } else {
      pb <- predict(res, transf = bt$f)
    }
    out$back <- list(estimate = sc(pb$pred), ci_lb = sc(pb$ci.lb), ci_ub = sc(pb$ci.ub),
                     pi_lb = sc(pb$pi.lb), pi_ub = sc(pb$pi.ub))
  } else {
    out$transf <- NA
  }
  log_line(sprintf("rma %-34s k=%3d est=%s se=%s ci=[%s] tau2=%s QE=%s%s%s%s%s", id, res$k,
                   fmt(out$estimate), fmt(out$se), fmt(c(out$ci_lb, out$ci_ub)),
                   fmt(out$tau2), fmt(out$QE),
                   if (!is.null(out$tau2_ci)) paste0(" tau2ci=[", fmt(out$tau2_ci), "]",
                     out$tau2_ci_flags$lb_sign, out$tau2_ci_flags$ub_sign) else "",
                   if (!is.null(out$tau2_ci_extended)) paste0(" tau2ci(tau2.max=1e7)=[",
                     fmt(out$tau2_ci_extended$tau2_ci), "]") else "",
                   if (r$control$threshold != CTRL$threshold) paste0(" [threshold=", r$control$threshold, "]") else "",
                   if (length(r$warnings)) paste0("  [warn: ", paste(r$warnings, collapse = " | "), "]") else ""))
  out
}

cat("== rma ==\n")
rma_json <- list()
for (eid in names(ESC)) for (method in METHODS) for (test in TESTS)
  rma_json[[length(rma_json) + 1]] <- rma_case(eid, method, test, 95)
## a few level = 90 cases
for (eid in c("bcg/RR", "normand1999/SMD", "pritz1997/PLO"))
  for (method in c("FE", "DL", "REML")) for (test in c("z", "knha"))
    rma_json[[length(rma_json) + 1]] <- rma_case(eid, method, test, 90)
cat("\n")

## ---- meta-regression ------------------------------------------------------------
mods_specs <- list(
  list(id = "bcg/RR/ablat", esc = "bcg/RR", mods = "~ ablat"),
  list(id = "bcg/RR/ablat+year", esc = "bcg/RR", mods = "~ ablat + year"),
  list(id = "bcg/RR/alloc", esc = "bcg/RR", mods = "~ factor(alloc)", factors = "alloc"),
  list(id = "bangertdrowns2004/GEN/length", esc = "bangertdrowns2004/GEN", mods = "~ length"),
  list(id = "bangertdrowns2004/GEN/grade+length+wic", esc = "bangertdrowns2004/GEN",
       mods = "~ factor(grade) + length + wic", factors = "grade"),
  list(id = "raudenbush1985/GEN/weeks", esc = "raudenbush1985/GEN", mods = "~ weeks"),
  list(id = "curtis1998/ROM/time", esc = "curtis1998/ROM", mods = "~ time")
)

cat("== rma_mods ==\n")
mods_json <- list()
for (ms in mods_specs) {
  e <- ESC[[ms$esc]]
  d <- e$d; d$yi <- e$yi; d$vi <- e$vi
  form <- as.formula(ms$mods)
  mvars <- all.vars(form)
  na_rows <- which(!complete.cases(d[, c("yi", "vi", mvars), drop = FALSE])) - 1L
  for (method in METHODS) for (test in TESTS) {
    id <- paste(ms$id, method, test, sep = "/")
    out <- list(id = id, dataset = e$dataset, measure = e$measure, mods = ms$mods,
                mods_vars = arr(mvars), method = method, test = test, level = 95,
                control = CTRL, dropped_rows0 = arr(as.integer(na_rows)))
    if (!is.null(ms$factors)) {
      out$factor_levels <- setNames(lapply(ms$factors, function(f)
        arr(levels(factor(d[[f]][!(seq_len(nrow(d)) - 1L) %in% na_rows])))), ms$factors)
      out$reference_level <- setNames(lapply(ms$factors, function(f)
        levels(factor(d[[f]][!(seq_len(nrow(d)) - 1L) %in% na_rows]))[1]), ms$factors)
    }
    r <- run_fit(function(ctrl) rma(yi, vi, mods = form, data = d, method = method,
                                    test = test, level = 95, control = ctrl))
    res <- r$value
    out$control <- r$control
    out$warnings <- arr(as.character(r$warnings))
    if (is_err(res)) {
      out$error <- res$error
      log_line(sprintf("mods %-46s ERROR: %s", id, res$error))
      mods_json[[length(mods_json) + 1]] <- out
      next
    }
    out$included_rows0 <- rows0(res$not.na)
    out$k <- res$k; out$p <- res$p
    out$coef_names <- arr(rownames(res$beta))
    out$beta <- arr(res$beta); out$se <- arr(res$se)
    out$zval <- arr(res$zval); out$pval <- arr(res$pval)
    out$ci_lb <- arr(res$ci.lb); out$ci_ub <- arr(res$ci.ub)
    out$vb <- mat(res$vb)
    out$ddf <- sc(res$ddf)
    out$QM <- sc(res$QM); out$QMdf <- arr(res$QMdf); out$QMp <- sc(res$QMp)
    out$QE <- sc(res$QE); out$QEdf <- res$k - res$p; out$QEp <- sc(res$QEp)
    out$tau2 <- sc(res$tau2); out$se_tau2 <- sc(res$se.tau2)
    out$I2 <- sc(res$I2); out$H2 <- sc(res$H2); out$R2 <- sc(res$R2)
    out$s2w <- sc(res$s2w)
    out$weights <- arr(weights(res))
    out$logLik_ML <- sc(res$fit.stats["ll", "ML"])
    out$logLik_REML <- sc(res$fit.stats["ll", "REML"])
    mods_json[[length(mods_json) + 1]] <- out
    log_line(sprintf("mods %-46s k=%3d beta=[%s] se=[%s] QM=%s QMp=%s tau2=%s R2=%s%s", id, res$k,
                     fmt(out$beta, 7), fmt(out$se, 7), fmt(out$QM, 7), fmt(out$QMp, 5),
                     fmt(out$tau2, 7), fmt(out$R2, 6),
                     if (length(r$warnings)) paste0("  [warn: ", paste(r$warnings, collapse = " | "), "]") else ""))
  }
}
cat("\n")

## ---- subgroups -------------------------------------------------------------------
cat("== subgroup ==\n")
subgroup_json <- list()
{
  e <- ESC[["bcg/RR"]]
  d <- e$d; d$yi <- e$yi; d$vi <- e$vi
  groups <- sort(unique(d$alloc))
  for (method in c("DL", "REML")) {
    id <- paste("bcg/RR/alloc", method, sep = "/")
    sub <- list()
    for (g in groups) {
      dg <- d[d$alloc == g, ]
      rg <- run_fit(function(ctrl) rma(yi, vi, data = dg, method = method, control = ctrl))$value
      sub[[length(sub) + 1]] <- list(
        group = g, rows0 = arr(as.integer(which(d$alloc == g) - 1L)),
        k = rg$k, estimate = sc(rg$beta), se = sc(rg$se), zval = sc(rg$zval),
        pval = sc(rg$pval), ci_lb = sc(rg$ci.lb), ci_ub = sc(rg$ci.ub),
        tau2 = sc(rg$tau2), I2 = sc(rg$I2), H2 = sc(rg$H2),
        QE = sc(rg$QE), QEdf = rg$k - rg$p, QEp = sc(rg$QEp),
        back = list(estimate = exp(sc(rg$beta)), ci_lb = exp(sc(rg$ci.lb)),
                    ci_ub = exp(sc(rg$ci.ub))))
    }
    est <- sapply(sub, `[[`, "estimate"); se <- sapply(sub, `[[`, "se")
    sg <- data.frame(est = est, se = se, group = groups)
    rt <- rma(yi = est, sei = se, mods = ~ factor(group), data = sg, method = "FE",
              control = CTRL)
    rc <- run_fit(function(ctrl) rma(yi, vi, mods = ~ factor(alloc), data = d,
                                     method = method, control = ctrl))$value
    subgroup_json[[length(subgroup_json) + 1]] <- list(
      id = id, dataset = "bcg", measure = "RR", group_var = "alloc", method = method,
      test = "z", level = 95, groups = arr(groups), subgroups = sub,
      test_subgroup_differences = list(
        description = "rma(yi=<subgroup estimates>, sei=<subgroup se>, mods=~factor(group), method='FE')",
        QM = sc(rt$QM), QMdf = sc(rt$QMdf[1]), QMp = sc(rt$QMp)),
      common_tau2_moderator_test = list(
        description = paste0("rma(yi, vi, mods=~factor(alloc), method='", method, "')"),
        QM = sc(rc$QM), QMdf = sc(rc$QMdf[1]), QMp = sc(rc$QMp), tau2 = sc(rc$tau2)))
    log_line(sprintf("subgroup %-20s groups=%s k=%s est=[%s] tau2=[%s] | Qbetween(sep tau2)=%s p=%s | QM(common tau2)=%s p=%s",
                     id, paste(groups, collapse = ","), paste(sapply(sub, `[[`, "k"), collapse = ","),
                     fmt(est, 7), fmt(sapply(sub, `[[`, "tau2"), 7), fmt(rt$QM), fmt(rt$QMp, 6),
                     fmt(rc$QM), fmt(rc$QMp, 6)))
  }
}
cat("\n")

## ---- Mantel-Haenszel and Peto -----------------------------------------------------
cat("== mh / peto ==\n")
mh_json <- list(); peto_json <- list()
for (short in c("bcg", "egger2001", "li2007", "nielweise2007", "hine1989")) {
  sp <- specs[[short]]; d <- DATA[[short]]$d
  args <- lapply(sp$cols, function(cn) d[[cn]])
  for (m in c("OR", "RR", "RD")) {
    id <- paste(short, m, "MH", sep = "/")
    r <- run(do.call(rma.mh, c(list(measure = m, level = 95), args)))
    res <- r$value
    out <- list(id = id, dataset = short, measure = m, method = "MH", level = 95,
                args = list(add = 0.5, to = "only0", drop00 = TRUE, correct = TRUE),
                warnings = arr(as.character(r$warnings)))
    if (is_err(res)) {
      out$error <- res$error
    } else {
      out$k <- res$k; out$k_yi <- res$k.yi; out$k_pos <- res$k.pos
      out$estimate <- sc(res$beta); out$se <- sc(res$se)
      out$zval <- sc(res$zval); out$pval <- sc(res$pval)
      out$ci_lb <- sc(res$ci.lb); out$ci_ub <- sc(res$ci.ub)
      out$QE <- sc(res$QE); out$QEdf <- res$k.yi - 1; out$QEp <- sc(res$QEp)
      out$I2 <- sc(res$I2); out$H2 <- sc(res$H2)
      out$tables_rows0 <- rows0(res$not.na)
      out$yi_rows0 <- rows0(res$not.na.yivi)
      out$weights <- arr(weights(res))
      if (m == "OR") {
        out$MH <- sc(res$MH); out$MHp <- sc(res$MHp)
        out$TA <- sc(res$TA); out$TAp <- sc(res$TAp)
        out$BD <- sc(res$BD); out$BDp <- sc(res$BDp)
      }
      if (m %in% c("OR", "RR")) {
        out$back <- list(estimate = exp(sc(res$beta)), ci_lb = exp(sc(res$ci.lb)),
                         ci_ub = exp(sc(res$ci.ub)))
      }
      log_line(sprintf("mh   %-28s k=%2d est=%s se=%s ci=[%s] QE=%s I2=%s%s", id, res$k,
                       fmt(out$estimate), fmt(out$se), fmt(c(out$ci_lb, out$ci_ub)), fmt(out$QE),
                       fmt(out$I2, 6),
                       if (m == "OR") sprintf(" MH=%s TA=%s", fmt(out$MH), fmt(out$TA)) else ""))
    }
    mh_json[[length(mh_json) + 1]] <- out
  }
  id <- paste(short, "OR", "PETO", sep = "/")
  r <- run(do.call(rma.peto, c(list(level = 95), args)))
  res <- r$value
  out <- list(id = id, dataset = short, measure = "PETO", method = "PETO", level = 95,
              args = list(add = 0.5, to = "only0", drop00 = TRUE),
              warnings = arr(as.character(r$warnings)))
  if (is_err(res)) {
    out$error <- res$error
  } else {
    out$k <- res$k; out$k_yi <- res$k.yi; out$k_pos <- res$k.pos
    out$estimate <- sc(res$beta); out$se <- sc(res$se)
    out$zval <- sc(res$zval); out$pval <- sc(res$pval)
    out$ci_lb <- sc(res$ci.lb); out$ci_ub <- sc(res$ci.ub)
    out$QE <- sc(res$QE); out$QEdf <- res$k.yi - 1; out$QEp <- sc(res$QEp)
    out$I2 <- sc(res$I2); out$H2 <- sc(res$H2)
    out$tables_rows0 <- rows0(res$not.na)
    out$yi_rows0 <- rows0(res$not.na.yivi)
    out$weights <- arr(weights(res))
    out$back <- list(estimate = exp(sc(res$beta)), ci_lb = exp(sc(res$ci.lb)),
                     ci_ub = exp(sc(res$ci.ub)))
    log_line(sprintf("peto %-28s k=%2d est=%s se=%s ci=[%s] QE=%s I2=%s", id, res$k,
                     fmt(out$estimate), fmt(out$se), fmt(c(out$ci_lb, out$ci_ub)), fmt(out$QE),
                     fmt(out$I2, 6)))
  }
  peto_json[[length(peto_json) + 1]] <- out
}
cat("\n")

## ---- diagnostics ---------------------------------------------------------------------
diag_fits <- list(
  c("bcg/RR", "FE"), c("bcg/RR", "DL"), c("bcg/RR", "REML"),
  c("hackshaw1998/GEN", "REML"),
  c("normand1999/SMD", "REML"), c("normand1999/SMD", "DL"),
  c("pritz1997/PLO", "REML"),
  c("egger2001/OR", "REML"))
## regtest / ranktest / trimfill additionally on bcg for all methods
bias_fits <- unique(c(diag_fits, lapply(METHODS, function(m) c("bcg/RR", m))))

diag_model <- function(eid, method, test = "z") {
  e <- ESC[[eid]]
  d <- data.frame(yi = e$yi, vi = e$vi)
  yc <- specs[[e$dataset]]$year
  if (!is.null(yc)) d$year <- e$d[[yc]]
  r <- run_fit(function(ctrl) rma(yi, vi, data = d, method = method, test = test,
                                   control = ctrl))
  if (is_err(r$value)) stop(r$value$error)
  list(res = r$value, d = d, e = e, year = yc, control = r$control)
}
na_arr <- function(x) if (is.null(x)) arr(rep(NA_real_, 0)) else arr(x)

leave1out_json <- list(); influence_json <- list(); cumul_json <- list()
baujat_json <- list(); regtest_json <- list(); ranktest_json <- list()
trimfill_json <- list(); fsn_json <- list()

cat("== leave1out / influence / cumul / baujat ==\n")
pdf(NULL)
for (df in diag_fits) {
  eid <- df[1]; method <- df[2]
  id <- paste(eid, method, sep = "/")
  dm <- diag_model(eid, method); res <- dm$res
  base <- list(dataset = dm$e$dataset, measure = dm$e$measure, method = method, test = "z",
               level = 95, control = dm$control)
  inc0 <- which(res$not.na) - 1L

  ## leave1out
  l1 <- leave1out(res)
  leave1out_json[[length(leave1out_json) + 1]] <- c(list(id = id), base, list(
    rows0 = arr(inc0),
    estimate = arr(l1$estimate), se = arr(l1$se), zval = arr(l1$zval), pval = arr(l1$pval),
    ci_lb = arr(l1$ci.lb), ci_ub = arr(l1$ci.ub), Q = arr(l1$Q), Qp = arr(l1$Qp),
    tau2 = if (is.null(l1$tau2)) arr(rep(0, length(l1$estimate))) else arr(l1$tau2),
    I2 = arr(l1$I2), H2 = arr(l1$H2)))
  log_line(sprintf("leave1out %-24s est=[%s] tau2=[%s]", id, fmt(head(l1$estimate, 4), 7),
                   fmt(head(l1$tau2, 4), 6)))

  ## influence
  inf <- influence(res)
  ii <- inf$inf
  influence_json[[length(influence_json) + 1]] <- c(list(id = id), base, list(
    rows0 = arr(inc0),
    rstudent = arr(ii$rstudent), dffits = arr(ii$dffits), cook_d = arr(ii$cook.d),
    cov_r = arr(ii$cov.r), tau2_del = arr(ii$tau2.del), QE_del = arr(ii$QE.del),
    hat = arr(ii$hat), weight = arr(ii$weight),
    is_infl = arr(as.logical(inf$is.infl)),
    dfbetas = local({ db <- unclass(inf$dfbs)
                      lapply(db[setdiff(names(db), c("slab", "digits"))], arr) })))
  log_line(sprintf("influence %-24s rstudent=[%s] cook=[%s] infl=%s", id,
                   fmt(head(ii$rstudent, 3), 7), fmt(head(ii$cook.d, 3), 7),
                   paste(which(inf$is.infl) - 1, collapse = ",")))

  ## cumul
  if (!is.null(dm$year)) {
    cu <- cumul(res, order = year)
    ord_var <- dm$year
  } else {
    cu <- cumul(res)
    ord_var <- NA
  }
  cumul_json[[length(cumul_json) + 1]] <- c(list(id = id), base, list(
    order_variable = ord_var, order_rows0 = arr(as.integer(cu$ids - 1L)),
    estimate = arr(cu$estimate), se = arr(cu$se), zval = arr(cu$zval), pval = arr(cu$pvals),
    ci_lb = arr(cu$ci.lb), ci_ub = arr(cu$ci.ub), Q = arr(cu$Q), Qp = arr(cu$Qp),
    tau2 = if (is.null(cu$tau2)) arr(rep(0, length(cu$estimate))) else arr(cu$tau2),
    I2 = arr(cu$I2), H2 = arr(cu$H2)))
  log_line(sprintf("cumul     %-24s order=%s est=[%s]", id, paste(cu$ids - 1, collapse = ","),
                   fmt(tail(cu$estimate, 3), 7)))

  ## baujat
  bj <- baujat(res)
  baujat_json[[length(baujat_json) + 1]] <- c(list(id = id), base, list(
    rows0 = arr(as.integer(bj$ids - 1L)), x = arr(bj$x), y = arr(bj$y)))
  log_line(sprintf("baujat    %-24s x=[%s] y=[%s]", id, fmt(head(bj$x, 3), 7), fmt(head(bj$y, 3), 7)))
}
invisible(dev.off())
cat("\n")

cat("== regtest / ranktest / trimfill ==\n")
for (bf in bias_fits) {
  eid <- bf[1]; method <- bf[2]
  full_diag <- any(sapply(diag_fits, function(z) identical(z, bf)))
  tests <- if (full_diag) TESTS else "z"
  for (test in tests) {
    id <- paste(eid, method, test, sep = "/")
    dm <- diag_model(eid, method, test)
    r <- run(regtest(dm$res))
    rt <- r$value
    out <- list(id = id, dataset = ESC[[eid]]$dataset, measure = ESC[[eid]]$measure,
                method = method, test = test, level = 95, control = dm$control,
                model = "rma", predictor = "sei",
                warnings = arr(as.character(r$warnings)))
    if (is_err(rt)) {
      out$error <- rt$error
      log_line(sprintf("regtest  %-28s ERROR %s", id, rt$error))
    } else {
      out$zval <- sc(rt$zval); out$pval <- sc(rt$pval); out$dfs <- sc(rt$dfs)
      out$limit_estimate <- sc(rt$est); out$limit_ci_lb <- sc(rt$ci.lb)
      out$limit_ci_ub <- sc(rt$ci.ub)
      out$fit <- list(coef_names = arr(rownames(rt$fit$beta)), beta = arr(rt$fit$beta),
                      se = arr(rt$fit$se), tau2 = sc(rt$fit$tau2), QE = sc(rt$fit$QE))
      log_line(sprintf("regtest  %-28s stat=%s p=%s df=%s limit=%s", id, fmt(out$zval), fmt(out$pval, 6),
                       fmt(out$dfs), fmt(out$limit_estimate)))
    }
    regtest_json[[length(regtest_json) + 1]] <- out
  }
  id <- paste(eid, method, sep = "/")
  dm <- diag_model(eid, method, "z"); res <- dm$res
  base <- list(dataset = dm$e$dataset, measure = dm$e$measure, method = method, test = "z",
               level = 95, control = dm$control)

  ## ranktest (also record whether ties forced the normal approximation)
  rk <- run(ranktest(res))
  wi <- 1 / res$vi; th <- sum(wi * res$yi) / sum(wi); vs <- res$vi - 1 / sum(wi)
  ystar <- (res$yi - th) / sqrt(vs)
  ties <- anyDuplicated(ystar) > 0 || anyDuplicated(res$vi) > 0
  ranktest_json[[length(ranktest_json) + 1]] <- c(list(id = id), base, list(
    tau = sc(rk$value$tau), pval = sc(rk$value$pval), ties = ties,
    exact = !ties && length(res$yi) < 50,
    warnings = arr(as.character(rk$warnings))))
  log_line(sprintf("ranktest %-28s tau=%s p=%s ties=%s", id, fmt(rk$value$tau), fmt(rk$value$pval, 6), ties))

  ## trimfill
  for (est in c("L0", "R0")) {
    tf_id <- paste(id, est, sep = "/")
    r <- run(trimfill(res, estimator = est, maxiter = 1000, control = dm$control))
    tf <- r$value
    out <- c(list(id = tf_id), base, list(estimator = est, warnings = arr(as.character(r$warnings))))
    if (is_err(tf)) {
      out$error <- tf$error
      log_line(sprintf("trimfill %-32s ERROR %s", tf_id, tf$error))
    } else {
      out <- c(out, list(
        k0 = tf$k0, se_k0 = sc(tf$se.k0), side = tf$side, p_k0 = sc(tf$p.k0),
        k = tf$k, estimate = sc(tf$beta), se = sc(tf$se), zval = sc(tf$zval), pval = sc(tf$pval),
        ci_lb = sc(tf$ci.lb), ci_ub = sc(tf$ci.ub), tau2 = sc(tf$tau2),
        QE = sc(tf$QE), QEp = sc(tf$QEp), I2 = sc(tf$I2), H2 = sc(tf$H2),
        filled_test = tf$test,
        yi = arr(tf$yi), vi = arr(tf$vi), fill = arr(as.logical(tf$fill))))
      log_line(sprintf("trimfill %-32s k0=%d side=%s est=%s se=%s tau2=%s", tf_id, tf$k0, tf$side,
                       fmt(out$estimate), fmt(out$se), fmt(out$tau2)))
    }
    trimfill_json[[length(trimfill_json) + 1]] <- out
  }
}
cat("\n")

cat("== fsn ==\n")
for (eid in unique(sapply(diag_fits, `[`, 1))) {
  e <- ESC[[eid]]
  d <- data.frame(yi = e$yi, vi = e$vi)
  for (type in c("Rosenthal", "Orwin", "Rosenberg")) {
    id <- paste(eid, type, sep = "/")
    fs <- fsn(yi, vi, data = d, type = type)
    fsn_json[[length(fsn_json) + 1]] <- list(
      id = id, dataset = e$dataset, measure = e$measure, type = type,
      fsnum = sc(fs$fsnum), alpha = sc(fs$alpha), pval = sc(fs$pval),
      meanes = sc(fs$meanes), target = sc(fs$target))
    log_line(sprintf("fsn %-34s fsnum=%s alpha=%s pval=%s meanes=%s target=%s", id, fmt(fs$fsnum),
                     fmt(fs$alpha), fmt(fs$pval), fmt(fs$meanes), fmt(fs$target)))
  }
}
cat("\n")

## ---- assemble and write --------------------------------------------------------------
out <- list(
  meta = list(
    generator = "tests/reference/metafor_reference.R",
    R_version = R.version.string,
    metafor_version = as.character(packageVersion("metafor")),
    metadat_version = as.character(packageVersion("metadat")),
    jsonlite_version = as.character(packageVersion("jsonlite")),
    rma_control = CTRL, confint_control = CI_CTRL,
    methods = arr(METHODS), tests = arr(TESTS),
    notes = arr(c(
      "All row indices (*_rows0) are 0-based indices into the rows of the dataset CSV.",
      "null encodes R NA/NaN (and +-Inf, none of which occur; see Rout).",
      "Numbers are written with 15 significant digits (jsonlite digits=NA).",
      "dat.li2007 has no double-zero study; dat.nielweise2007 was added for double-zero cells."))),
  datasets = datasets_json,
  escalc = escalc_json,
  rma = rma_json,
  rma_mods = mods_json,
  subgroup = subgroup_json,
  mh = mh_json,
  peto = peto_json,
  leave1out = leave1out_json,
  influence = influence_json,
  cumul = cumul_json,
  baujat = baujat_json,
  regtest = regtest_json,
  ranktest = ranktest_json,
  trimfill = trimfill_json,
  fsn = fsn_json
)

## sanity: count non-finite (Inf/-Inf) numbers, which would be written as null
count_inf <- function(x) {
  if (is.list(x)) return(sum(vapply(x, count_inf, numeric(1))))
  if (is.numeric(x)) return(sum(is.infinite(x)))
  0
}
cat("== summary ==\n")
cat("non-finite (+-Inf) values written as null:", count_inf(out), "\n")
for (key in setdiff(names(out), c("meta", "datasets"))) {
  n_err <- sum(vapply(out[[key]], function(z) !is.null(z$error), logical(1)))
  log_line(sprintf("%-10s cases=%4d errors=%d", key, length(out[[key]]), n_err))
}
log_line(sprintf("%-10s %d", "datasets", length(out$datasets)))

write_json(out, json_path, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("wrote tests/reference/metafor_reference.json (", file.size(json_path), "bytes )\n")
