#!/usr/bin/env Rscript
# Few-cluster inference references: Kenward-Roger and Satterthwaite t/F tests,
# likelihood-ratio tests of nested models, profile and parametric-bootstrap
# confidence intervals, cluster-robust (sandwich) covariance matrices of pooled
# OLS and LSDV fits, and a timing of pbkrtest::vcovAdj on a 2,000-group design.
#
# Usage (from the repository root):
#   Rscript tests/reference/scripts/inference_reference.R [case ...]
#   cases: sleep radon hsb efficacy penicillin kr_timing   (default: all)
#
# Writes tests/reference/inference/<case>.json and
# tests/reference/inference/kr_sim_2000x5.csv (the simulated timing data).
# Data are read with the project's CSV typing rule (ref_helpers.R).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(sandwich)
  library(jsonlite)
})
script_dir <- local({
  a <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else
    normalizePath("tests/reference/scripts")
})
source(file.path(script_dir, "ref_helpers.R"))
out_dir <- file.path(ref_dir, "inference")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

SOFTWARE <- software_info(c("lme4", "lmerTest", "pbkrtest", "sandwich", "Matrix",
                            "boot", "jsonlite"))
NSIM <- 500L
N_TIMING <- 7L

# ---------------------------------------------------------------------------
cases <- list(
  sleep = list(
    data = "data/sleepstudy.csv", group = "Subject",
    formula = "Reaction ~ Days + (Days | Subject)",
    contrasts = list(
      both = list(`(Intercept)` = 1, Days = 1)),
    kr_small = "Reaction ~ 1 + (Days | Subject)",
    fixed_pair = c("Reaction ~ 1 + (Days | Subject)", "Reaction ~ Days + (Days | Subject)"),
    random_pair = c("Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)"),
    profile = TRUE, boot = TRUE, boot_seed = 20240611L,
    robust = list(lm = "Reaction ~ Days", cluster = "Subject",
                  lsdv = "Reaction ~ Days + Subject", within = "Days")),
  radon = list(
    data = "data/radon.csv", group = "county",
    formula = "log_radon ~ floor + log_uranium + (1 | county)",
    contrasts = list(
      floor_and_uranium = list(floor = 1, log_uranium = 1)),
    kr_small = "log_radon ~ 1 + (1 | county)",
    fixed_pair = c("log_radon ~ floor + (1 | county)",
                   "log_radon ~ floor + log_uranium + (1 | county)"),
    random_pair = c("log_radon ~ floor + log_uranium + (1 | county)",
                    "log_radon ~ floor + log_uranium + (1 + floor | county)"),
    profile = TRUE, boot = TRUE, boot_seed = 20240612L,
    robust = list(lm = "log_radon ~ floor + log_uranium", cluster = "county",
                  lsdv = "log_radon ~ floor + county", within = "floor")),
  hsb = list(
    data = "data/hsb82.csv", group = "school",
    formula = "mAch ~ meanses + sector + cses + (1 + cses | school)",
    contrasts = list(
      level2_meanses_sector = list(meanses = 1, sectorPublic = 1),
      sector_and_cses = list(sectorPublic = 1, cses = 1)),
    kr_small = "mAch ~ cses + (1 + cses | school)",
    fixed_pair = c("mAch ~ meanses + cses + (1 + cses | school)",
                   "mAch ~ meanses + sector + cses + (1 + cses | school)"),
    random_pair = c("mAch ~ meanses + sector + cses + (1 | school)",
                    "mAch ~ meanses + sector + cses + (1 + cses | school)"),
    profile = FALSE, boot = FALSE,
    robust = list(lm = "mAch ~ meanses + sector + cses", cluster = "school",
                  lsdv = "mAch ~ cses + school", within = "cses")),
  efficacy = list(
    data = "data/efficacy_sim.csv", group = "country",
    formula = "EFF ~ EDU + URB + CORR + (1 | country)",
    contrasts = list(
      urb_and_corr = list(URB = 1, CORR = 1),
      edu_urb_corr = list(EDU = 1, URB = 1, CORR = 1)),
    kr_small = "EFF ~ EDU + (1 | country)",
    fixed_pair = c("EFF ~ EDU + URB + (1 | country)",
                   "EFF ~ EDU + URB + CORR + (1 | country)"),
    random_pair = c("EFF ~ EDU + URB + CORR + (1 | country)",
                    "EFF ~ EDU + URB + CORR + (1 + EDU | country)"),
    profile = TRUE, boot = FALSE,
    robust = list(lm = "EFF ~ EDU + URB + CORR", cluster = "country",
                  lsdv = "EFF ~ EDU + URB + country", within = c("EDU", "URB"))),
  penicillin = list(
    data = "data/penicillin.csv", group = c("plate", "sample"),
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)",
    contrasts = list(),
    profile = TRUE, boot = TRUE, boot_seed = 20240613L)
)

# ---------------------------------------------------------------------------
coef_table <- function(m, ddf) {
  cf <- summary(m, ddf = ddf)$coefficients
  out <- list()
  for (i in seq_len(nrow(cf))) out[[rownames(cf)[i]]] <- list(
    est = unname(cf[i, "Estimate"]), se = unname(cf[i, "Std. Error"]),
    df = unname(cf[i, "df"]), t = unname(cf[i, "t value"]),
    p = unname(cf[i, "Pr(>|t|)"]))
  out
}

make_L <- function(spec, names) {
  L <- matrix(0, length(spec), length(names), dimnames = list(NULL, names))
  for (i in seq_along(spec)) L[i, names(spec)[i]] <- spec[[i]]
  rownames(L) <- paste0("H", seq_along(spec), ": ", names(spec), " = 0")
  L
}

contrast_block <- function(m, spec) {
  L <- make_L(spec, names(fixef(m)))
  kr <- lmerTest::contest(m, L, joint = TRUE, ddf = "Kenward-Roger")
  sa <- lmerTest::contest(m, L, joint = TRUE, ddf = "Satterthwaite")
  pk <- pbkrtest::KRmodcomp(as(m, "lmerMod"), L)
  row <- function(a) list(F = a[["F value"]], ndf = a[["NumDF"]], ddf = a[["DenDF"]],
                          p = a[["Pr(>F)"]])
  st <- pk$stats
  list(L = mat_json(L),
       hypothesis = "L beta = 0 (joint)",
       lmerTest_contest_KR = row(kr), lmerTest_contest_Satterthwaite = row(sa),
       pbkrtest_KRmodcomp = list(F = st$Fstat, ndf = st$ndf, ddf = st$ddf,
                                 F_scaling = st$F.scaling, p = st$p.value,
                                 F_unscaled = st$FstatU, p_unscaled = st$p.valueU))
}

anova_rows <- function(a) {
  out <- list()
  for (i in seq_len(nrow(a))) out[[rownames(a)[i]]] <- list(
    npar = a$npar[i], AIC = a$AIC[i], BIC = a$BIC[i], logLik = a$logLik[i],
    deviance = a$deviance[i],
    Chisq = if (i == 1) NA else a$Chisq[i], Df = if (i == 1) NA else a$Df[i],
    p = if (i == 1) NA else a[["Pr(>Chisq)"]][i])
  out
}

anova_pair <- function(f0, f1, d, refit) {
  m0 <- suppressMessages(lme4::lmer(as.formula(f0), data = d, REML = TRUE))
  m1 <- suppressMessages(lme4::lmer(as.formula(f1), data = d, REML = TRUE))
  cap <- capture(anova(m0, m1, refit = refit))
  refitted <- any(grepl("refitting model", cap$messages))
  list(m0 = f0, m1 = f1, fits = "both REML (lme4::lmer default)",
       singular = list(m0 = isSingular(m0), m1 = isSingular(m1)),
       refit_argument = refit, refit_happened = refitted,
       rows = anova_rows(cap$value),
       row_names_note = "m0 is the smaller model (row 1), m1 the larger",
       Chisq = cap$value$Chisq[2], Df = cap$value$Df[2], p = cap$value[["Pr(>Chisq)"]][2],
       messages = I(cap$messages), warnings = I(cap$warnings))
}

# sd/cor parameters in lme4's order, their names, and readable names
param_names <- function(m) {
  old <- lme4:::profnames(m, signames = TRUE)
  new <- lme4:::profnames(m, signames = FALSE)
  cl <- function(s) gsub("^\\((.*)\\)$", "\\1", s)
  readable <- character()
  cn <- m@cnms
  for (g in seq_along(cn)) {
    tm <- cn[[g]]; k <- length(tm); grp <- names(cn)[g]
    for (j in seq_len(k)) for (i in j:k) {
      readable <- c(readable, if (i == j) sprintf("sd(%s | %s)", cl(tm[i]), grp) else
        sprintf("corr(%s, %s | %s)", cl(tm[j]), cl(tm[i]), grp))
    }
  }
  readable <- c(readable, "sigma")
  fx <- names(fixef(m))
  stopifnot(length(old) == length(readable))
  list(lme4 = c(old, fx), lme4_new = c(new, fx), readable = c(readable, fx))
}

# the statistic vector confint(method = "boot") bootstraps (lme4 1.1-31's bootFun)
boot_fun_for <- function(m) {
  vn <- lme4:::profnames(m, signames = TRUE)
  function(x) {
    th <- x@theta
    nvec <- lengths(x@cnms)
    c(setNames(lme4:::Cv_to_Sv(th, n = nvec, s = sigma(x)), vn), fixef(x))
  }
}

ci_rows <- function(ci, est, pn) {
  out <- list()
  for (i in seq_along(pn$lme4)) {
    nm <- pn$lme4[i]
    out[[pn$readable[i]]] <- list(lme4_name = nm, lme4_name_new = pn$lme4_new[i],
                                  estimate = unname(est[nm]),
                                  lower = unname(ci[nm, 1]), upper = unname(ci[nm, 2]))
  }
  out
}

profile_block <- function(m) {
  pn <- param_names(m)
  est <- boot_fun_for(m)(m)
  t0 <- proc.time()[["elapsed"]]
  cap <- capture(confint(m, method = "profile", level = 0.95, oldNames = TRUE))
  list(call = "confint(m, method = \"profile\", level = 0.95, oldNames = TRUE)",
       level = 0.95, fit = "REML (the model's own criterion is profiled)",
       intervals = ci_rows(cap$value, est, pn),
       name_map = setNames(as.list(pn$readable), pn$lme4),
       time_s = proc.time()[["elapsed"]] - t0,
       warnings = I(cap$warnings), messages = I(cap$messages))
}

boot_block <- function(m, seed) {
  pn <- param_names(m)
  fun <- boot_fun_for(m)
  est <- fun(m)
  t0 <- proc.time()[["elapsed"]]
  cap <- capture(confint(m, method = "boot", nsim = NSIM, boot.type = "perc",
                         level = 0.95, seed = seed, oldNames = TRUE))
  tt <- proc.time()[["elapsed"]] - t0
  # the same replicates again, to report their Monte Carlo spread
  bb <- suppressWarnings(suppressMessages(
    bootMer(m, FUN = fun, nsim = NSIM, seed = seed, use.u = FALSE, type = "parametric")))
  ci2 <- confint(bb, level = 0.95, type = "perc")
  same <- isTRUE(all.equal(unname(ci2[pn$lme4, ]), unname(cap$value[pn$lme4, ]),
                           tolerance = 1e-10))
  reps <- list()
  for (i in seq_along(pn$lme4)) {
    nm <- pn$lme4[i]; x <- bb$t[, nm]
    reps[[pn$readable[i]]] <- list(mean = mean(x, na.rm = TRUE), sd = sd(x, na.rm = TRUE),
                                   q025 = unname(quantile(x, 0.025, na.rm = TRUE)),
                                   q975 = unname(quantile(x, 0.975, na.rm = TRUE)),
                                   n_failed = sum(is.na(x)))
  }
  list(call = sprintf(paste0("confint(m, method = \"boot\", nsim = %d, boot.type = \"perc\", ",
                             "level = 0.95, seed = %d, oldNames = TRUE)"), NSIM, seed),
       nsim = NSIM, seed = seed, type = "perc",
       bootstrap = "parametric, use.u = FALSE (new random effects each replicate), REML refits",
       intervals = ci_rows(cap$value, est, pn),
       replicate_summary = reps,
       replicates_reproduced = same,
       replicate_note = paste("replicate_summary: the same", NSIM, "replicates (bootMer with",
                              "the same seed and statistic); quantile() type 7 differs",
                              "slightly from boot's percentile interval"),
       time_s = tt, warnings = I(cap$warnings), messages = I(cap$messages))
}

robust_block <- function(spec, d) {
  m <- lm(as.formula(spec$lm), data = d)
  cl <- as.formula(paste("~", spec$cluster))
  G <- length(unique(d[[spec$cluster]])); n <- nobs(m); k <- length(coef(m))
  v1 <- sandwich::vcovCL(m, cluster = cl, type = "HC1")
  v0 <- sandwich::vcovCL(m, cluster = cl, type = "HC0")
  v0n <- sandwich::vcovCL(m, cluster = cl, type = "HC0", cadjust = FALSE)
  se <- function(v) named_list(sqrt(diag(v)))
  ls <- lm(as.formula(spec$lsdv), data = d)
  keep <- c("(Intercept)", spec$within)
  lv1 <- sandwich::vcovCL(ls, cluster = cl, type = "HC1")[keep, keep, drop = FALSE]
  lv0 <- sandwich::vcovCL(ls, cluster = cl, type = "HC0")[keep, keep, drop = FALSE]
  lvc <- vcov(ls)[keep, keep, drop = FALSE]
  list(
    pooled_ols = list(
      formula = spec$lm, cluster = spec$cluster, n = n, G = G, k = k,
      coef = named_list(coef(m)),
      vcov_classical = mat_json(vcov(m)), se_classical = se(vcov(m)),
      CR1 = list(call = sprintf("sandwich::vcovCL(m, cluster = ~ %s, type = \"HC1\")", spec$cluster),
                 factor = (G / (G - 1)) * ((n - 1) / (n - k)),
                 factor_formula = "G/(G-1) * (n-1)/(n-k)  (Stata's CR1)",
                 vcov = mat_json(v1), se = se(v1)),
      HC0_cadjust = list(call = sprintf("sandwich::vcovCL(m, cluster = ~ %s, type = \"HC0\")", spec$cluster),
                         factor = G / (G - 1), factor_formula = "G/(G-1)",
                         vcov = mat_json(v0), se = se(v0)),
      CR0 = list(call = sprintf("sandwich::vcovCL(m, cluster = ~ %s, type = \"HC0\", cadjust = FALSE)",
                                spec$cluster),
                 factor = 1, factor_formula = "none (plain sum of cluster score outer products)",
                 vcov = mat_json(v0n), se = se(v0n))),
    lsdv = list(
      formula = spec$lsdv, within_terms = I(spec$within),
      n = nobs(ls), k = length(coef(ls)), G = G,
      coef = named_list(coef(ls)[keep]),
      intercept_note = paste("(Intercept) is the first (byte-order) group's level; its",
                             "cluster-robust SE is not meaningful (that group's residuals sum",
                             "to zero, so it can be ~0, as in hsb)"),
      vcov_classical = mat_json(lvc), se_classical = named_list(sqrt(diag(lvc))),
      CR1_vcov = mat_json(lv1), CR1_se = named_list(sqrt(diag(lv1))),
      CR1_note = paste("vcovCL(type = \"HC1\") on the dummy regression: k counts every dummy,",
                       "so (n-1)/(n-k) differs from a within-transformed regression's"),
      HC0_cadjust_vcov = mat_json(lv0), HC0_cadjust_se = named_list(sqrt(diag(lv0))),
      all_coefficients = named_list(coef(ls))))
}

run_case <- function(name, spec) {
  d <- read_ref_csv(spec$data)
  f <- as.formula(spec$formula)
  res <- list(case = name, data = spec$data, formula = spec$formula,
              n_obs = nrow(d),
              factor_levels = lapply(Filter(is.factor, d[, setdiff(all.vars(f), spec$group),
                                                          drop = FALSE]), levels))
  mt <- lmerTest::lmer(f, data = d, REML = TRUE)
  m <- lme4::lmer(f, data = d, REML = TRUE)
  res$n_groups <- as.list(ngrps(m))
  res$reml_fit <- list(loglik = as.numeric(logLik(m)), REMLcrit = unname(REMLcrit(m)),
                       sigma = sigma(m), theta = I(unname(getME(m, "theta"))),
                       singular = isSingular(m))
  res$kenward_roger <- coef_table(mt, "Kenward-Roger")
  res$satterthwaite <- coef_table(mt, "Satterthwaite")
  res$vcov_unadjusted <- mat_json(as.matrix(vcov(m)))
  res$vcov_kr_adjusted <- mat_json(as.matrix(pbkrtest::vcovAdj(m)))
  res$vcov_note <- paste("vcov_unadjusted = lme4 vcov(m) (REML); vcov_kr_adjusted =",
                         "pbkrtest::vcovAdj(m), Kenward-Roger's Phi_A; the KR SEs are its",
                         "square-root diagonal")
  if (length(spec$contrasts)) {
    res$contrasts <- lapply(spec$contrasts, function(s) contrast_block(mt, s))
  }
  if (!is.null(spec$kr_small)) {
    ms <- lme4::lmer(as.formula(spec$kr_small), data = d, REML = TRUE)
    km <- pbkrtest::KRmodcomp(m, ms)
    res$krmodcomp_nested <- list(
      large = spec$formula, small = spec$kr_small,
      call = "pbkrtest::KRmodcomp(large, small)",
      F = km$stats$Fstat, ndf = km$stats$ndf, ddf = km$stats$ddf,
      F_scaling = km$stats$F.scaling, p = km$stats$p.value,
      L = if (is.null(km$L)) NULL else mat_json(as.matrix(km$L)))
  }
  if (!is.null(spec$fixed_pair)) {
    res$anova_fixed_pair <- anova_pair(spec$fixed_pair[1], spec$fixed_pair[2], d, TRUE)
    res$anova_random_pair <- anova_pair(spec$random_pair[1], spec$random_pair[2], d, TRUE)
    res$anova_random_pair_reml <- anova_pair(spec$random_pair[1], spec$random_pair[2], d, FALSE)
    res$anova_note <- paste("lme4 anova(m0, m1): with refit = TRUE (default) REML fits are",
                            "refitted by ML before the test; anova_random_pair_reml uses",
                            "refit = FALSE (REML likelihoods, same fixed part). p is the naive",
                            "chi-square p (no boundary mixture).")
  }
  if (isTRUE(spec$profile)) res$confint_profile <- profile_block(m)
  if (isTRUE(spec$boot)) res$confint_boot <- boot_block(m, spec$boot_seed)
  if (!is.null(spec$robust)) res$cluster_robust <- robust_block(spec$robust, d)
  res$software <- SOFTWARE
  res
}

# ---------------------------------------------------------------------------
# KR timing on a simulated 2,000-group x 5-observation design
simulate_kr <- function(G = 2000L, n = 5L, seed = 20240601L) {
  set.seed(seed)
  g <- rep(sprintf("g%04d", seq_len(G)), each = n)
  x1 <- round(rnorm(G * n), 4)                    # level-1 covariate
  x2 <- rep(round(rnorm(G), 4), each = n)         # level-2 covariate
  u0 <- rep(rnorm(G, 0, 0.5), each = n)
  u1 <- rep(rnorm(G, 0, 0.3), each = n)
  y <- round(1 + 0.5 * x1 - 0.3 * x2 + u0 + u1 * x1 + rnorm(G * n), 4)
  data.frame(g = g, x1 = x1, x2 = x2, y = y)
}

run_kr_timing <- function() {
  csv <- "tests/reference/inference/kr_sim_2000x5.csv"
  write_ref_csv(simulate_kr(), csv)
  d <- read_ref_csv(csv)
  out <- list(case = "kr_timing", data = csv,
              generator = paste(deparse(simulate_kr), collapse = "\n"),
              generator_call = "simulate_kr(G = 2000, n = 5, seed = 20240601)",
              truth = list(`(Intercept)` = 1, x1 = 0.5, x2 = -0.3, sd_intercept = 0.5,
                           sd_x1 = 0.3, corr = 0, sigma = 1),
              n_obs = nrow(d), n_groups = length(unique(d$g)), models = list())
  for (fs in c("y ~ x1 + x2 + (1 | g)", "y ~ x1 + x2 + (1 + x1 | g)")) {
    f <- as.formula(fs)
    m <- lme4::lmer(f, data = d, REML = TRUE)
    mt <- lmerTest::lmer(f, data = d, REML = TRUE)
    t_fit <- time_runs(function() lme4::lmer(f, data = d, REML = TRUE), N_TIMING)
    t_fit_lt <- time_runs(function() lmerTest::lmer(f, data = d, REML = TRUE), N_TIMING)
    t_adj <- time_runs(function() pbkrtest::vcovAdj(m), N_TIMING)
    t_kr <- time_runs(function() summary(mt, ddf = "Kenward-Roger"), N_TIMING)
    t_sat <- time_runs(function() summary(mt, ddf = "Satterthwaite"), N_TIMING)
    out$models[[fs]] <- list(
      formula = fs,
      varcorr = lapply(VarCorr(m), function(v) list(sd = named_list(attr(v, "stddev")),
                                                     corr = if (ncol(v) > 1) mat_json(attr(v, "correlation")) else NULL)),
      sigma = sigma(m), REMLcrit = unname(REMLcrit(m)),
      kenward_roger = coef_table(mt, "Kenward-Roger"),
      satterthwaite = coef_table(mt, "Satterthwaite"),
      vcov_unadjusted = mat_json(as.matrix(vcov(m))),
      vcov_kr_adjusted = mat_json(as.matrix(pbkrtest::vcovAdj(m))),
      time_lmer_fit_s = t_fit,
      time_lmerTest_fit_s = t_fit_lt,
      time_vcovAdj_s = t_adj,
      time_lmerTest_summary_KR_s = t_kr,
      time_lmerTest_summary_Satterthwaite_s = t_sat)
  }
  out$timing_note <- sprintf(paste("wall-clock seconds, median of %d runs each, on a shared",
                                   "2-core machine (orders of magnitude only).",
                                   "time_vcovAdj_s: pbkrtest::vcovAdj(m) alone (Phi_A);",
                                   "time_lmerTest_summary_KR_s: summary(ddf = \"Kenward-Roger\")",
                                   "of an lmerTest fit (vcovAdj + KR df + lmerTest overhead);",
                                   "Satterthwaite's ingredients (Hessian of the variance",
                                   "parameters) are computed inside lmerTest::lmer, so compare",
                                   "time_lmerTest_fit_s - time_lmer_fit_s + the summary time"), N_TIMING)
  out$software <- SOFTWARE
  out
}

# ---------------------------------------------------------------------------
args <- commandArgs(trailingOnly = TRUE)
todo <- if (length(args)) args else c(names(cases), "kr_timing")
for (nm in todo) {
  cat(sprintf("[%s] %s ... ", format(Sys.time(), "%H:%M:%S"), nm))
  t0 <- proc.time()[["elapsed"]]
  res <- tryCatch(if (nm == "kr_timing") run_kr_timing() else run_case(nm, cases[[nm]]),
                  error = function(e) list(case = nm, error = conditionMessage(e),
                                           software = SOFTWARE))
  write_json_file(res, file.path(out_dir, paste0(nm, ".json")))
  cat(sprintf("%s (%.1fs)\n", if (is.null(res$error)) "ok" else paste("ERROR:", res$error),
              proc.time()[["elapsed"]] - t0))
}
