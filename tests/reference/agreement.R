## ---------------------------------------------------------------------------
## agreement.R -- reference values for tests/test_agreement.py
##
## Re-run with:
##     cd tests/reference && Rscript agreement.R > agreement.Rout 2>&1
##
## Requires R >= 4.2, psych, vcd and jsonlite (Debian: r-cran-psych r-cran-vcd
## r-cran-jsonlite). The R packages irr and irrCAC are not packaged for Debian,
## so:
##   * Cohen's kappa and its large-sample variance (Fleiss, Cohen & Everitt
##     1969) come from two packages, psych::cohen.kappa and vcd::Kappa;
##   * Gwet's AC1, the generalised Fleiss' kappa and their variances (Gwet 2008,
##     Br J Math Stat Psychol 61:29-48; Gwet, Handbook of Inter-Rater
##     Reliability, 4th ed., ch. 2 and 5), and Krippendorff's alpha (nominal,
##     from the coincidence matrix, Krippendorff 2011 "Computing Krippendorff's
##     Alpha-Reliability") with Gwet's linearised variance, are written out
##     below in base R from the published formulas. The Krippendorff 2011
##     worked example (alpha = 0.743) checks the alpha code; the printed
##     AC1/Fleiss/alpha values and standard errors were also compared with the
##     Python packages irrCAC 0.4.4 (a port of the R package irrCAC) and
##     krippendorff 0.9.0 by agreement_crosscheck.py (output in
##     agreement_crosscheck.out: largest relative difference 4.5e-15).
##
## Every statistic uses only the records rated by at least two reviewers;
## records only one reviewer saw are counted (n_single) and otherwise ignored.
## Confidence intervals are estimate +/- qnorm(0.975) * SE (not truncated).
## Writes tests/reference/agreement.json (15 significant digits).
## ---------------------------------------------------------------------------

suppressPackageStartupMessages({
  library(psych)
  library(vcd)
  library(jsonlite)
})
options(warn = 1, stringsAsFactors = FALSE)

script_dir <- local({
  fa <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(fa)) dirname(normalizePath(sub("^--file=", "", fa[1]))) else getwd()
})

cat("agreement reference generation\n")
cat("R:", R.version.string, " psych:", as.character(packageVersion("psych")),
    " vcd:", as.character(packageVersion("vcd")),
    " jsonlite:", as.character(packageVersion("jsonlite")), "\n\n")

## ---- datasets: one string per reviewer, one character per record ----------
## I = include, E = exclude, M = maybe, digits are used as they are, "." = not rated.
decode <- c(I = "include", E = "exclude", M = "maybe")
make_long <- function(raters, prefix = "r") {
  n <- unique(nchar(raters))
  stopifnot(length(n) == 1)
  ids <- sprintf("%s%02d", prefix, seq_len(n))
  rows <- list()
  for (who in names(raters)) {
    ch <- strsplit(raters[[who]], "")[[1]]
    for (i in seq_len(n)) {
      if (ch[i] == ".") next
      val <- if (ch[i] %in% names(decode)) decode[[ch[i]]] else ch[i]
      rows[[length(rows) + 1]] <- data.frame(record = ids[i], reviewer = who, decision = val)
    }
  }
  do.call(rbind, rows)
}

datasets <- list(
  ## two reviewers, include/exclude, every record seen by both
  two_binary = make_long(c(
    anna = "IEEIEEEIEEEEIEEEEEIEIIEE",
    ben  = "IEEEEEIIEEEEIEEEEEEEIEEE")),
  ## two reviewers, three categories, five records seen by only one reviewer
  two_three_missing = make_long(c(
    anna = "IEMEEIEEMEEIEEEMIEEEEEIEME..EE",
    ben  = "IEEEEIEMMEEIE.EEIEEEMEIE.EEE.E")),
  ## three reviewers, incomplete design: 2 or 3 reviewers per record, two singles
  three_incomplete = make_long(c(
    anna  = "IEE.EMIEE.IEEMEE.EIE",
    ben   = "IE.EEMEEEIIE.EEEIE.E",
    chloe = ".EEEE.IEMIIEEM.E.E..")),
  ## high agreement on a rare 'include' (the kappa paradox)
  skewed = make_long(c(
    anna = "EEEEEIEEEEEEIEEEEEEEEIEEEEEEEEIEEEEEEEIE",
    ben  = "EEEEEIEEEEEEEEEEIEEEEEEEEEEEEEIEEEEEEEEE")),
  ## Krippendorff (2011), section C: 4 observers, 12 units, nominal, missing values
  kripp2011 = make_long(c(
    A = "123321412...",
    B = "1233224125.3",
    C = ".3332342251.",
    D = "12332441251."), prefix = "u")
)

## ---- helpers ---------------------------------------------------------------
wide_matrix <- function(long) {
  recs <- sort(unique(long$record))
  who <- sort(unique(long$reviewer))
  m <- matrix(NA_character_, length(recs), length(who), dimnames = list(recs, who))
  m[cbind(match(long$record, recs), match(long$reviewer, who))] <- long$decision
  m
}
## units x categories counts, for the records rated by at least two reviewers
count_matrix <- function(wide, cats) {
  N <- t(apply(wide, 1, function(row) table(factor(row, levels = cats))))
  N[rowSums(N) >= 2, , drop = FALSE]
}
z975 <- qnorm(0.975)
ci <- function(est, se) I(c(est - z975 * se, est + z975 * se))

## Gwet's (2008) linearisation: var = sum((c_i* - c)^2) / (n (n - 1)),
## c_i* = c_i - 2 (1 - c) (pe_i - pe) / (1 - pe), c_i = (pa_i - pe) / (1 - pe).
gwet_family <- function(N, which) {
  q <- ncol(N); n <- nrow(N); r <- rowSums(N)
  pa_i <- rowSums(N * (N - 1)) / (r * (r - 1))
  pa <- mean(pa_i)
  pk <- colMeans(N / r)
  if (which == "ac1") {
    pe <- sum(pk * (1 - pk)) / (q - 1)
    pe_i <- as.vector(N %*% (1 - pk)) / r / (q - 1)
  } else {
    pe <- sum(pk^2)
    pe_i <- as.vector(N %*% pk) / r
  }
  est <- (pa - pe) / (1 - pe)
  c_i <- (pa_i - pe) / (1 - pe)
  c_x <- c_i - 2 * (1 - est) * (pe_i - pe) / (1 - pe)
  se <- sqrt(sum((c_x - est)^2) / (n * (n - 1)))
  list(estimate = est, se = se, ci = ci(est, se), pa = pa, pe = pe)
}

## Krippendorff's alpha (nominal) from the coincidence matrix
## o_ck = sum_u (n_uc n_uk - [c == k] n_uc) / (m_u - 1); alpha = 1 - D_o / D_e.
kripp_alpha <- function(N) {
  q <- ncol(N)
  O <- matrix(0, q, q)
  for (u in seq_len(nrow(N))) {
    nu <- N[u, ]
    O <- O + (outer(nu, nu) - diag(nu, q)) / (sum(nu) - 1)
  }
  nc <- rowSums(O); ntot <- sum(nc)
  Do <- (ntot - sum(diag(O))) / ntot
  De <- (ntot^2 - sum(nc^2)) / (ntot * (ntot - 1))
  alpha <- 1 - Do / De
  ## Gwet's variance for alpha (Handbook, 4th ed., sec. 5.x; irrCAC krippen.alpha.raw)
  n <- nrow(N); r <- rowSums(N); rbar <- mean(r); eps <- 1 / sum(r)
  sq <- rowSums(N * (N - 1))
  pa1 <- mean(sq / (rbar * (r - 1)))
  pa <- (1 - eps) * pa1 + eps
  pk <- colSums(N) / sum(r)
  pe <- sum(pk^2)
  alpha_g <- (pa - pe) / (1 - pe)
  alpha1 <- (pa1 - pe) / (1 - pe)
  pa_i <- sq / (rbar * (r - 1)) - pa * (r - rbar) / rbar
  a_i <- (pa_i - pe) / (1 - pe)
  pe_i <- as.vector(N %*% pk) / rbar - pe * (r - rbar) / rbar
  a_x <- a_i - 2 * (1 - alpha1) * (pe_i - pe) / (1 - pe)
  se <- sqrt(sum((a_x - alpha1)^2) / (n * (n - 1)))
  stopifnot(abs(alpha_g - alpha) < 1e-12)
  list(estimate = alpha, se = se, ci = ci(alpha, se), coincidence = O,
       n_pairable = ntot)
}

cohen_two <- function(wide, cats) {
  both <- wide[rowSums(!is.na(wide)) == 2, , drop = FALSE]
  tab <- table(factor(both[, 1], levels = cats), factor(both[, 2], levels = cats))
  tab <- unclass(tab); dimnames(tab) <- NULL
  ps <- suppressWarnings(psych::cohen.kappa(tab))
  vk <- vcd::Kappa(tab)$Unweighted
  stopifnot(abs(ps$kappa - vk[["value"]]) < 1e-12,
            abs(sqrt(ps$var.kappa) - vk[["ASE"]]) < 1e-12)
  list(estimate = ps$kappa, se = sqrt(ps$var.kappa), ci = ci(ps$kappa, sqrt(ps$var.kappa)),
       se_vcd = vk[["ASE"]], n = sum(tab),
       table = lapply(seq_len(nrow(tab)), function(i) I(as.integer(tab[i, ]))))
}

## ---- compute -----------------------------------------------------------------
out <- list(
  meta = list(
    generator = "tests/reference/agreement.R",
    R_version = R.version.string,
    psych_version = as.character(packageVersion("psych")),
    vcd_version = as.character(packageVersion("vcd")),
    jsonlite_version = as.character(packageVersion("jsonlite")),
    z975 = z975,
    notes = I(c(
      "percent_agreement = 100 * mean over records of agreeing pairs / all pairs",
      "kappa: Cohen (psych::cohen.kappa, checked against vcd::Kappa) for 2 reviewers",
      "fleiss: Gwet's generalised Fleiss kappa for any number of reviewers per record",
      "ci = estimate +/- qnorm(0.975) * se, not truncated to [-1, 1]"
    ))
  ),
  datasets = list(),
  results = list()
)

for (name in names(datasets)) {
  long <- datasets[[name]]
  wide <- wide_matrix(long)
  cats <- sort(unique(long$decision))
  N <- count_matrix(wide, cats)
  nrated <- rowSums(!is.na(wide))
  res <- list(
    reviewers = I(colnames(wide)),
    categories = I(cats),
    n_records = sum(nrated >= 2),
    n_single = sum(nrated == 1),
    n_ratings = sum(N),
    percent_agreement = 100 * mean(rowSums(N * (N - 1)) / (rowSums(N) * (rowSums(N) - 1))),
    ac1 = gwet_family(N, "ac1"),
    fleiss = gwet_family(N, "fleiss")
  )
  ka <- kripp_alpha(N)
  res$alpha <- ka[c("estimate", "se", "ci", "n_pairable")]
  res$coincidence <- lapply(seq_len(nrow(ka$coincidence)),
                            function(i) I(ka$coincidence[i, ]))
  if (ncol(wide) == 2) {
    res$kappa <- cohen_two(wide, cats)
  }
  pairs <- list()
  if (ncol(wide) > 2) {
    for (i in 1:(ncol(wide) - 1)) for (j in (i + 1):ncol(wide)) {
      sub <- wide[, c(i, j)]
      k <- cohen_two(sub, cats)
      pairs[[length(pairs) + 1]] <- list(
        reviewer_a = colnames(wide)[i], reviewer_b = colnames(wide)[j], n = k$n,
        kappa = k$estimate, se = k$se)
    }
  }
  res$pairwise <- pairs
  out$datasets[[name]] <- list(
    columns = I(c("record", "reviewer", "decision")),
    rows = lapply(seq_len(nrow(long)), function(i) I(unname(unlist(long[i, ]))))
  )
  out$results[[name]] <- res
  cat(sprintf(
    "%-18s n=%2d single=%d pa=%7.3f%% kappa=%s ac1=%.6f (se %.6f) fleiss=%.6f alpha=%.6f (se %.6f)\n",
    name, res$n_records, res$n_single, res$percent_agreement,
    if (is.null(res$kappa)) "   NA   " else sprintf("%.6f (se %.6f)", res$kappa$estimate, res$kappa$se),
    res$ac1$estimate, res$ac1$se, res$fleiss$estimate, res$alpha$estimate, res$alpha$se))
}

stopifnot(abs(out$results$kripp2011$alpha$estimate - 0.743) < 5e-4)
cat(sprintf("\nKrippendorff (2011) worked example: alpha = %.4f (published: 0.743)\n",
            out$results$kripp2011$alpha$estimate))

path <- file.path(script_dir, "agreement.json")
write_json(out, path, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("wrote", basename(path), "\n")
