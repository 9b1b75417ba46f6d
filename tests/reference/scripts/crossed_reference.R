#!/usr/bin/env Rscript
# Crossed and nested random-effects designs: simulated data, lme4 REML and ML
# fits, and lme4 timings.
#
# Usage (from the repository root):
#   Rscript tests/reference/scripts/crossed_reference.R [case ...]
#   cases: pupils_crossed big_crossed nested3   (default: all)
#
# For each case: simulates the data with a fixed seed (the generator is below
# and is copied into the JSON), writes tests/reference/crossed/<case>.csv,
# re-reads it with the project's CSV typing rule, fits lmerTest::lmer with
# REML = TRUE and REML = FALSE, and times plain lme4::lmer(formula, data)
# (median of 7).  Writes tests/reference/crossed/<case>.json.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})
script_dir <- local({
  a <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else
    normalizePath("tests/reference/scripts")
})
source(file.path(script_dir, "ref_helpers.R"))
out_dir <- file.path(ref_dir, "crossed")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

SOFTWARE <- software_info(c("lme4", "lmerTest", "Matrix", "jsonlite"))
N_TIMING <- 7L
N_RANEF <- 10L

# ---------------------------------------------------------------------------
# generators (values rounded to 4 decimals so the CSV is the exact data)

# (i) pupils in 148 primary x 19 secondary schools (cross-classified, not fully
# crossed): each primary school sends most of its pupils to 3 "feeder" secondary
# schools and the rest anywhere.
sim_pupils_crossed <- function(seed = 20240621L) {
  set.seed(seed)
  P <- 148L; S <- 19L
  n_p <- sample(15:31, P, replace = TRUE)
  feeders <- lapply(seq_len(P), function(p) sample.int(S, 3))
  prim <- rep(seq_len(P), n_p)
  sec <- unlist(lapply(seq_len(P), function(p) {
    k <- n_p[p]
    ifelse(runif(k) < 0.85, feeders[[p]][sample.int(3, k, replace = TRUE,
                                                    prob = c(0.5, 0.3, 0.2))],
           sample.int(S, k, replace = TRUE))
  }))
  N <- length(prim)
  u <- rnorm(P, 0, 0.6); v <- rnorm(S, 0, 0.35)
  x <- round(rnorm(N), 4)
  y <- round(6 + 0.5 * x + u[prim] + v[sec] + rnorm(N, 0, 1), 4)
  data.frame(primary = sprintf("P%03d", prim), secondary = sprintf("S%02d", sec),
             x = x, y = y)
}

# (ii) two large crossed factors (300 x 400 levels, ~20,000 rows, cells drawn
# at random) with a correlated random slope of x on factor a.
sim_big_crossed <- function(seed = 20240622L) {
  set.seed(seed)
  A <- 300L; B <- 400L; N <- 20000L
  a <- sample.int(A, N, replace = TRUE)
  b <- sample.int(B, N, replace = TRUE)
  sa0 <- 0.5; sa1 <- 0.3; rho <- 0.3
  z0 <- rnorm(A); z1 <- rnorm(A)
  ua0 <- sa0 * z0
  ua1 <- sa1 * (rho * z0 + sqrt(1 - rho^2) * z1)
  ub <- rnorm(B, 0, 0.4)
  x <- round(rnorm(N), 4)
  y <- round(2 + 0.4 * x + ua0[a] + ua1[a] * x + ub[b] + rnorm(N, 0, 1), 4)
  data.frame(a = sprintf("a%03d", a), b = sprintf("b%03d", b), x = x, y = y)
}

# (iii) pupils in classes in schools (three levels, unbalanced); class labels
# c1..c6 repeat across schools, so the nesting must come from school/class.
sim_nested3 <- function(seed = 20240623L) {
  set.seed(seed)
  S <- 60L
  n_class <- sample(3:6, S, replace = TRUE)
  school <- rep(seq_len(S), n_class)
  cls <- unlist(lapply(n_class, seq_len))
  C <- length(school)
  n_pupil <- sample(10:30, C, replace = TRUE)
  u_s <- rnorm(S, 0, 0.5); u_c <- rnorm(C, 0, 0.3)
  ci <- rep(seq_len(C), n_pupil)
  N <- length(ci)
  x <- round(rnorm(N), 4)
  y <- round(10 + 0.6 * x + u_s[school[ci]] + u_c[ci] + rnorm(N, 0, 1), 4)
  data.frame(school = sprintf("S%02d", school[ci]), class = sprintf("c%d", cls[ci]),
             x = x, y = y)
}

cases <- list(
  pupils_crossed = list(
    gen = sim_pupils_crossed, gen_name = "sim_pupils_crossed", seed = 20240621L,
    formula = "y ~ x + (1 | primary) + (1 | secondary)",
    truth = list(`(Intercept)` = 6, x = 0.5, sd_primary = 0.6, sd_secondary = 0.35,
                 sigma = 1)),
  big_crossed = list(
    gen = sim_big_crossed, gen_name = "sim_big_crossed", seed = 20240622L,
    formula = "y ~ x + (1 + x | a) + (1 | b)",
    truth = list(`(Intercept)` = 2, x = 0.4, sd_a_intercept = 0.5, sd_a_x = 0.3,
                 corr_a = 0.3, sd_b = 0.4, sigma = 1)),
  nested3 = list(
    gen = sim_nested3, gen_name = "sim_nested3", seed = 20240623L,
    formula = "y ~ x + (1 | school/class)",
    truth = list(`(Intercept)` = 10, x = 0.6, sd_school = 0.5, sd_class_in_school = 0.3,
                 sigma = 1),
    note = paste("(1 | school/class) = (1 | school) + (1 | class:school); lme4 names the",
                 "class-in-school levels \"<class>:<school>\", e.g. \"c1:S01\""))
)

# ---------------------------------------------------------------------------
fixef_block <- function(fit) {
  cf <- summary(fit, ddf = "Satterthwaite")$coefficients
  out <- list()
  for (i in seq_len(nrow(cf))) out[[rownames(cf)[i]]] <- list(
    est = unname(cf[i, "Estimate"]), se = unname(cf[i, "Std. Error"]),
    df_satterthwaite = unname(cf[i, "df"]), t = unname(cf[i, "t value"]),
    p = unname(cf[i, "Pr(>|t|)"]))
  out
}

varcorr_block <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  vc <- vc[vc$grp != "Residual", , drop = FALSE]
  out <- list()
  for (g in unique(vc$grp)) {
    sub <- vc[vc$grp == g, , drop = FALSE]
    sds <- list(); cors <- list()
    for (i in seq_len(nrow(sub))) {
      if (is.na(sub$var2[i])) sds[[sub$var1[i]]] <- sub$sdcor[i]
      else cors[[paste0(sub$var1[i], "|", sub$var2[i])]] <- sub$sdcor[i]
    }
    out[[g]] <- list(sd = sds, corr = if (length(cors)) cors else empty_obj())
  }
  out
}

ranef_first <- function(fit, n = N_RANEF) {
  re <- ranef(fit, condVar = TRUE)
  out <- list()
  for (g in names(re)) {
    df <- re[[g]]
    pv <- attr(df, "postVar")
    k <- min(n, nrow(df))
    lv <- rownames(df)[seq_len(k)]
    est <- list(); se <- list()
    for (i in seq_len(k)) {
      est[[lv[i]]] <- as.list(setNames(unlist(df[i, ]), colnames(df)))
      se[[lv[i]]] <- as.list(setNames(sqrt(diag(as.matrix(pv[, , i]))), colnames(df)))
    }
    out[[g]] <- list(n_levels = nrow(df), first_levels = I(lv), ranef = est, ranef_se = se)
  }
  out
}

fit_block <- function(cap, kind) {
  fit <- cap$value
  ll <- logLik(fit)
  oi <- fit@optinfo
  list(
    fixef = fixef_block(fit),
    varcorr = varcorr_block(fit),
    sigma = sigma(fit),
    loglik = as.numeric(ll), df_loglik = attr(ll, "df"),
    deviance_or_REMLcrit = if (kind == "reml") unname(REMLcrit(fit)) else -2 * as.numeric(ll),
    criterion = if (kind == "reml") "REMLcrit" else "-2*logLik",
    AIC = AIC(fit), BIC = BIC(fit),
    theta = I(unname(getME(fit, "theta"))),
    ranef_first10 = ranef_first(fit),
    optimizer = oi$optimizer, feval = oi$feval,
    converged = length(oi$conv$lme4$messages) == 0 && identical(as.numeric(oi$conv$opt), 0),
    singular = isSingular(fit),
    warnings = I(unique(c(cap$warnings, unlist(oi$conv$lme4$messages)))))
}

run_case <- function(name, spec) {
  csv <- sprintf("tests/reference/crossed/%s.csv", name)
  write_ref_csv(spec$gen(seed = spec$seed), csv)
  d <- read_ref_csv(csv)
  f <- as.formula(spec$formula)
  reml <- capture(lmerTest::lmer(f, data = d, REML = TRUE))
  ml <- capture(lmerTest::lmer(f, data = d, REML = FALSE))
  t_reml <- time_runs(function() lme4::lmer(f, data = d, REML = TRUE), N_TIMING)
  t_ml <- time_runs(function() lme4::lmer(f, data = d, REML = FALSE), N_TIMING)
  t_sat <- time_runs(function() summary(lmerTest::lmer(f, data = d, REML = TRUE),
                                        ddf = "Satterthwaite"), N_TIMING)
  m <- reml$value
  res <- list(case = name, data = csv, formula = spec$formula,
              generator = paste(deparse(spec$gen), collapse = "\n"),
              generator_call = sprintf("%s(seed = %d)", spec$gen_name, spec$seed),
              truth = spec$truth,
              note = if (is.null(spec$note)) NULL else spec$note,
              n_obs = nobs(m), n_groups = as.list(ngrps(m)),
              csv_bytes = file.size(file.path(repo_root, csv)),
              reml = fit_block(reml, "reml"),
              ml = fit_block(ml, "ml"),
              timing = list(
                lmer_reml_s = t_reml, lmer_ml_s = t_ml,
                lmerTest_fit_and_satterthwaite_s = t_sat,
                what = paste("wall-clock seconds of lme4::lmer(formula, data = d, REML = ...)",
                             "from the formula and the data frame (model frame, sparse Z,",
                             "optimisation); median of", N_TIMING, "runs; shared 2-core",
                             "machine, orders of magnitude only.",
                             "lmerTest_fit_and_satterthwaite_s: lmerTest::lmer (which also",
                             "computes the Hessian of the variance parameters) + summary(ddf =",
                             "\"Satterthwaite\")")),
              software = SOFTWARE)
  res
}

args <- commandArgs(trailingOnly = TRUE)
todo <- if (length(args)) args else names(cases)
for (nm in todo) {
  cat(sprintf("[%s] %s ... ", format(Sys.time(), "%H:%M:%S"), nm))
  t0 <- proc.time()[["elapsed"]]
  res <- tryCatch(run_case(nm, cases[[nm]]),
                  error = function(e) list(case = nm, error = conditionMessage(e),
                                           software = SOFTWARE))
  write_json_file(res, file.path(out_dir, paste0(nm, ".json")))
  cat(sprintf("%s (%.1fs)\n", if (is.null(res$error)) "ok" else paste("ERROR:", res$error),
              proc.time()[["elapsed"]] - t0))
}
