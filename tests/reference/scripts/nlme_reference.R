#!/usr/bin/env Rscript
# nlme reference fits with residual correlation / variance structures.
#
# Usage (from the repository root):
#   Rscript tests/reference/scripts/nlme_reference.R
#
# 1. Exports nlme's Orthodont, BodyWeight, Ovary and Dialyzer to data/*.csv
#    (grouping ids as plain quoted strings, time columns numeric, original row
#    order; ovary.csv gets an integer `occasion` = row number within Mare).
# 2. Re-reads those CSVs with the project's typing rule (quoted -> factor with
#    byte-order levels: e.g. Orthodont Sex reference level is "Female", not
#    nlme's "Male") and fits every case with method = "REML" and "ML".
# 3. Writes tests/reference/nlme/<case>.json.
#
# Every model is built from the strings stored in the JSON (formula, random,
# correlation, weights), pasted into one nlme::lme()/nlme::gls() call.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})
script_dir <- local({
  a <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else
    normalizePath("tests/reference/scripts")
})
source(file.path(script_dir, "ref_helpers.R"))
out_dir <- file.path(ref_dir, "nlme")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

SOFTWARE <- software_info(c("nlme", "lme4", "jsonlite"))

# ---------------------------------------------------------------------------
# 1. data export
plain <- function(gd) {
  d <- as.data.frame(gd)
  for (nm in names(d)) if (is.factor(d[[nm]])) d[[nm]] <- as.character(d[[nm]])
  attr(d, "formula") <- NULL; attr(d, "labels") <- NULL; attr(d, "units") <- NULL
  attr(d, "outer") <- NULL; attr(d, "inner") <- NULL; attr(d, "FUN") <- NULL
  attr(d, "order.groups") <- NULL
  d
}
ovary <- plain(Ovary)
ovary$occasion <- ave(seq_len(nrow(ovary)), ovary$Mare, FUN = seq_along)
ovary <- ovary[, c("Mare", "Time", "occasion", "follicles")]
orthodont <- plain(Orthodont)[, c("Subject", "Sex", "age", "distance")]
bodyweight <- plain(BodyWeight)[, c("Rat", "Diet", "Time", "weight")]
dialyzer <- plain(Dialyzer)
dialyzer$index <- as.integer(dialyzer$index)
dialyzer <- dialyzer[, c("Subject", "QB", "index", "pressure", "rate")]
write_ref_csv(ovary, "data/ovary.csv")
write_ref_csv(orthodont, "data/orthodont.csv")
write_ref_csv(bodyweight, "data/bodyweight.csv")
write_ref_csv(dialyzer, "data/dialyzer.csv")

# ---------------------------------------------------------------------------
# 2. cases
# fun: "lme" or "gls"; group: the grouping column; null: the same model
# without the residual structure; extra: further nested comparisons.
cases <- list(
  list(case = "ovary_ar1", data = "data/ovary.csv", fun = "lme", group = "Mare",
       formula = "follicles ~ sin(2 * pi * Time) + cos(2 * pi * Time)",
       random = "~ 1 | Mare",
       correlation = "corAR1(form = ~ 1 | Mare)", weights = NULL,
       marginal_cov = TRUE,
       note = paste("AR(1) on the row order within Mare (= the `occasion` column of",
                    "data/ovary.csv: Python ar1(occasion | Mare))")),
  list(case = "bodyweight_car1", data = "data/bodyweight.csv", fun = "lme", group = "Rat",
       formula = "weight ~ Time * Diet",
       random = "~ Time | Rat",
       correlation = "corCAR1(form = ~ Time | Rat)", weights = NULL,
       marginal_cov = TRUE,
       note = "continuous-time AR(1): corr = phi^|t_i - t_j| with Time in days"),
  list(case = "orthodont_varident", data = "data/orthodont.csv", fun = "lme", group = "Subject",
       formula = "distance ~ age + Sex",
       random = "~ 1 | Subject",
       correlation = NULL, weights = "varIdent(form = ~ 1 | Sex)",
       marginal_cov = TRUE,
       note = "Sex levels in byte order: reference (intercept) level is Female, term SexMale"),
  list(case = "bodyweight_car1_varident", data = "data/bodyweight.csv", fun = "lme",
       group = "Rat",
       formula = "weight ~ Time * Diet",
       random = "~ Time | Rat",
       correlation = "corCAR1(form = ~ Time | Rat)",
       weights = "varIdent(form = ~ 1 | Diet)",
       marginal_cov = TRUE,
       extra = list(
         list(name = "car1_only", correlation = "corCAR1(form = ~ Time | Rat)", weights = NULL),
         list(name = "varident_only", correlation = NULL, weights = "varIdent(form = ~ 1 | Diet)")),
       note = "CAR(1) and a residual sd per Diet together"),
  list(case = "dialyzer_ar1_varident", data = "data/dialyzer.csv", fun = "lme",
       group = "Subject",
       formula = "rate ~ (pressure + I(pressure^2)) * QB",
       random = "~ 1 | Subject",
       correlation = "corAR1(form = ~ 1 | Subject)",
       weights = "varIdent(form = ~ 1 | QB)",
       marginal_cov = TRUE,
       extra = list(
         list(name = "ar1_only", correlation = "corAR1(form = ~ 1 | Subject)", weights = NULL),
         list(name = "varident_only", correlation = NULL, weights = "varIdent(form = ~ 1 | QB)")),
       note = paste("AR(1) on the row order within Subject (= the `index` column of",
                    "data/dialyzer.csv, consecutive 1..7) and a residual sd per QB.",
                    "A random pressure slope (~ pressure | Subject) with corAR1 fails with the",
                    "default nlminb settings (see random_slope_attempts), so the random part is",
                    "an intercept only (its sd ends at the boundary, ~0); the quadratic in",
                    "pressure simplifies Pinheiro & Bates' quartic model")),
  list(case = "orthodont_compsymm_gls", data = "data/orthodont.csv", fun = "gls",
       group = "Subject",
       formula = "distance ~ age + Sex",
       random = NULL,
       correlation = "corCompSymm(form = ~ 1 | Subject)", weights = NULL,
       marginal_cov = TRUE,
       note = paste("compound symmetry by gls (no random effects); with Rho >= 0 it is",
                    "the same marginal model as lme(distance ~ age + Sex, random = ~ 1 | Subject):",
                    "see equivalent_lme and identifiability_check"))
)

# ---------------------------------------------------------------------------
build_call <- function(fun, formula, random, correlation, weights, method) {
  parts <- if (fun == "lme") c(sprintf("fixed = %s", formula), "data = d") else
    c(sprintf("model = %s", formula), "data = d")
  if (!is.null(random)) parts <- c(parts, sprintf("random = %s", random))
  if (!is.null(correlation)) parts <- c(parts, sprintf("correlation = %s", correlation))
  if (!is.null(weights)) parts <- c(parts, sprintf("weights = %s", weights))
  parts <- c(parts, sprintf("method = \"%s\"", method))
  sprintf("nlme::%s(%s)", fun, paste(parts, collapse = ", "))
}

fit_text <- function(txt, d) {
  env <- new.env(parent = globalenv()); env$d <- d
  cap <- capture(eval(parse(text = txt), envir = env))
  cap$call_text <- txt
  cap
}

struct_block <- function(m) {
  out <- list()
  cs <- m$modelStruct$corStruct
  if (!is.null(cs)) {
    out$correlation <- list(
      class = class(cs)[1],
      form = paste(deparse(formula(cs)), collapse = ""),
      coef = named_list(coef(cs, unconstrained = FALSE)),
      coef_unconstrained = named_list(coef(cs, unconstrained = TRUE)))
  }
  vs <- m$modelStruct$varStruct
  if (!is.null(vs)) {
    gn <- attr(vs, "groupNames")
    r <- coef(vs, unconstrained = FALSE)
    ref <- setdiff(gn, names(r))
    all_r <- setNames(rep(1, length(gn)), gn); all_r[names(r)] <- r
    out$variance <- list(
      class = class(vs)[1],
      form = paste(deparse(formula(vs)), collapse = ""),
      reference_level = ref,
      ratios = named_list(r),
      ratios_all_levels = named_list(all_r),
      residual_sd_by_level = named_list(m$sigma * all_r),
      coef_unconstrained = named_list(coef(vs, unconstrained = TRUE)),
      meaning = paste("residual sd of level L = sigma * ratio[L]; the reference",
                      "level has ratio 1 (its sd is sigma)"))
  }
  out
}

re_block <- function(m) {
  if (!inherits(m, "lme")) return(NULL)
  D <- as.matrix(m$modelStruct$reStruct[[1]]) * m$sigma^2
  sds <- sqrt(diag(D))
  cors <- list()
  if (ncol(D) > 1) {
    R <- cov2cor(D)
    for (j in 1:(ncol(D) - 1)) for (i in (j + 1):ncol(D))
      cors[[paste0(colnames(D)[j], "|", colnames(D)[i])]] <- R[i, j]
  }
  vc <- VarCorr(m)
  list(group = names(m$modelStruct$reStruct)[1],
       sd = named_list(sds),
       corr = if (length(cors)) cors else empty_obj(),
       cov_matrix = mat_json(D),
       varcorr_printed = list(rows = I(rownames(vc)), cols = I(colnames(vc)),
                              values = unname(lapply(seq_len(nrow(vc)),
                                                     function(i) unname(vc[i, ])))))
}

ranef_block <- function(m) {
  if (!inherits(m, "lme")) return(NULL)
  re <- ranef(m)
  out <- list()
  for (lv in rownames(re)) out[[lv]] <- as.list(setNames(unlist(re[lv, ]), colnames(re)))
  out
}

fixef_block <- function(m) {
  tt <- summary(m)$tTable
  out <- list()
  df_gls <- if (inherits(m, "gls")) m$dims$N - m$dims$p else NA
  for (i in seq_len(nrow(tt))) {
    out[[rownames(tt)[i]]] <- list(
      est = unname(tt[i, "Value"]), se = unname(tt[i, "Std.Error"]),
      df = if ("DF" %in% colnames(tt)) unname(tt[i, "DF"]) else df_gls,
      t = unname(tt[i, "t-value"]), p = unname(tt[i, "p-value"]))
  }
  out
}

pred_block <- function(m, d, n = 10) {
  nd <- d[seq_len(n), , drop = FALSE]
  if (inherits(m, "lme")) {
    p <- predict(m, newdata = nd, level = 0:1)
    f <- fitted(m, level = 0:1)[seq_len(n), ]
    stopifnot(isTRUE(all.equal(unname(p[[2]]), unname(f[, 1]), tolerance = 1e-8)),
              isTRUE(all.equal(unname(p[[3]]), unname(f[, 2]), tolerance = 1e-8)))
    list(rows = I(seq_len(n)), group = I(as.character(p[[1]])),
         level0 = I(unname(p[[2]])), level1 = I(unname(p[[3]])),
         note = "rows 1..n of the CSV in file order; level0 = X beta, level1 = X beta + Z b")
  } else {
    list(rows = I(seq_len(n)), level0 = I(unname(predict(m, newdata = nd))),
         note = "gls: X beta only")
  }
}

# Marginal covariance of one unit, computed from the parameters (independent of
# nlme's internals), and nlme::getVarCov's version for lme fits.
marginal_cov_block <- function(m, d, case) {
  g <- case$group
  unit <- as.character(d[[g]][1])
  rows <- which(as.character(d[[g]]) == unit)
  du <- d[rows, , drop = FALSE]
  n <- length(rows)
  # residual correlation
  C <- diag(n)
  cs <- m$modelStruct$corStruct
  if (!is.null(cs)) {
    phi <- unname(coef(cs, unconstrained = FALSE))
    cl <- class(cs)[1]
    if (cl == "corAR1") {
      C <- phi^abs(outer(seq_len(n), seq_len(n), "-"))
    } else if (cl == "corCAR1") {
      tcov <- all.vars(getCovariateFormula(cs))
      tt <- du[[tcov]]
      C <- phi^abs(outer(tt, tt, "-"))
    } else if (cl == "corCompSymm") {
      C <- matrix(phi, n, n); diag(C) <- 1
    } else stop("unhandled corStruct ", cl)
  }
  s <- rep(1, n)
  vs <- m$modelStruct$varStruct
  if (!is.null(vs)) {
    gn <- attr(vs, "groupNames"); r <- coef(vs, unconstrained = FALSE)
    all_r <- setNames(rep(1, length(gn)), gn); all_r[names(r)] <- r
    strat <- all.vars(getGroupsFormula(formula(vs)))
    s <- unname(all_r[as.character(du[[strat]])])
  }
  V <- m$sigma^2 * (s %o% s) * C
  if (inherits(m, "lme")) {
    D <- as.matrix(m$modelStruct$reStruct[[1]]) * m$sigma^2
    Z <- model.matrix(formula(m$modelStruct$reStruct[[1]]), du)
    V <- V + Z %*% D %*% t(Z)
  }
  V <- unname(V)
  out <- list(unit = unit, csv_rows = I(rows), n = n,
              matrix = lapply(seq_len(n), function(i) V[i, ]),
              log_det = as.numeric(determinant(V, logarithm = TRUE)$modulus),
              method = paste("Z D Z' + sigma^2 S C S from the fitted parameters",
                             "(S = diag of varIdent ratios, C = residual correlation)"))
  if (inherits(m, "lme")) {
    gv <- tryCatch(getVarCov(m, individuals = unit, type = "marginal")[[unit]],
                   error = function(e) NULL)
    if (!is.null(gv)) {
      gv <- unname(as.matrix(gv))
      out$getVarCov_max_abs_diff <- max(abs(gv - V))
      out$getVarCov_matrix <- lapply(seq_len(n), function(i) gv[i, ])
      out$getVarCov_note <- paste("nlme::getVarCov(m, individuals = unit, type = \"marginal\");",
                                  "should equal `matrix`")
    }
  }
  out
}

fit_block <- function(cap, d, case, want_cov) {
  m <- cap$value
  out <- list(call = cap$call_text, method = m$method)
  out$fixef <- fixef_block(m)
  re <- re_block(m)
  if (!is.null(re)) out$random <- re
  out$sigma <- m$sigma
  st <- struct_block(m)
  out$correlation <- if (is.null(st$correlation)) NULL else st$correlation
  out$variance <- if (is.null(st$variance)) NULL else st$variance
  ll <- logLik(m)
  out$loglik <- as.numeric(ll)
  out$df_loglik <- attr(ll, "df")
  out$AIC <- AIC(m); out$BIC <- BIC(m)
  out$n_obs <- m$dims$N
  out$n_groups <- if (inherits(m, "lme")) as.list(m$dims$ngrps[names(m$groups)]) else
    setNames(list(length(unique(d[[case$group]]))), case$group)
  rb <- ranef_block(m)
  if (!is.null(rb)) out$ranef <- rb
  out$predictions_first10 <- pred_block(m, d)
  if (want_cov) out$marginal_cov_first_unit <- marginal_cov_block(m, d, case)
  if (inherits(m, "lme")) {
    out$apVar_ok <- is.matrix(m$apVar)
    if (!is.matrix(m$apVar)) out$apVar_message <- as.character(m$apVar)
  }
  out$warnings <- I(cap$warnings)
  out
}

anova_block <- function(m0, m1, name0, name1) {
  a <- anova(m0, m1)
  rows <- list()
  nm <- c(name0, name1)
  for (i in 1:2) {
    rows[[nm[i]]] <- list(df = a$df[i], AIC = a$AIC[i], BIC = a$BIC[i],
                          logLik = a$logLik[i])
  }
  list(models = rows,
       test = as.character(a$Test[2]),
       L.Ratio = a$L.Ratio[2], p.value = a[["p-value"]][2],
       df_difference = abs(a$df[2] - a$df[1]),
       note = "nlme::anova(m0, m1): naive chi-square LRT (no boundary correction)")
}

run_case <- function(case) {
  d <- read_ref_csv(case$data)
  res <- list(case = case$case, data = case$data, fun = paste0("nlme::", case$fun),
              formula = case$formula,
              random = if (is.null(case$random)) NULL else case$random,
              correlation = if (is.null(case$correlation)) NULL else case$correlation,
              weights = if (is.null(case$weights)) NULL else case$weights,
              group = case$group, note = case$note,
              factor_levels = lapply(Filter(is.factor, d), levels))
  fits <- list(); nulls <- list(); anovas <- list(); extras <- list()
  for (meth in c("REML", "ML")) {
    key <- tolower(meth)
    full <- fit_text(build_call(case$fun, case$formula, case$random, case$correlation,
                                case$weights, meth), d)
    null <- fit_text(build_call(case$fun, case$formula, case$random, NULL, NULL, meth), d)
    fits[[key]] <- fit_block(full, d, case, isTRUE(case$marginal_cov))
    nulls[[key]] <- fit_block(null, d, case, FALSE)
    anovas[[key]] <- list(no_structure_vs_full = anova_block(null$value, full$value,
                                                             "no_structure", "full"))
    for (ex in case$extra) {
      e <- fit_text(build_call(case$fun, case$formula, case$random, ex$correlation,
                               ex$weights, meth), d)
      if (is.null(extras[[ex$name]]))
        extras[[ex$name]] <- list(correlation = ex$correlation, weights = ex$weights)
      extras[[ex$name]][[key]] <- fit_block(e, d, case, FALSE)
      anovas[[key]][[paste0("no_structure_vs_", ex$name)]] <-
        anova_block(null$value, e$value, "no_structure", ex$name)
      anovas[[key]][[paste0(ex$name, "_vs_full")]] <-
        anova_block(e$value, full$value, ex$name, "full")
    }
  }
  res$fits <- fits
  res$no_structure <- list(correlation = NULL, weights = NULL,
                           reml = nulls$reml, ml = nulls$ml)
  if (length(extras)) res$other_structures <- extras
  res$anova <- anovas
  res$anova_note <- paste("REML comparisons keep the fixed part fixed (valid REML LRT);",
                          "ML comparisons are ordinary likelihood-ratio tests.")
  if (case$case == "dialyzer_ar1_varident") {
    # the model with a random pressure slope, which nlme cannot fit reliably
    att <- list()
    for (meth in c("REML", "ML")) for (ctl in c("", "lmeControl(msMaxIter = 500, maxIter = 500)",
                                                "lmeControl(opt = \"optim\")")) {
      txt <- build_call("lme", case$formula, "~ pressure | Subject", case$correlation,
                        case$weights, meth)
      if (nzchar(ctl)) txt <- sub(")$", sprintf(", control = %s)", ctl), txt)
      r <- tryCatch(fit_text(txt, d), error = function(err) list(error = conditionMessage(err)))
      att[[length(att) + 1]] <- if (!is.null(r$error)) list(call = txt, error = r$error) else
        list(call = txt, loglik = as.numeric(logLik(r$value)),
             apVar_ok = is.matrix(r$value$apVar),
             apVar_message = if (is.matrix(r$value$apVar)) NULL else as.character(r$value$apVar),
             warnings = I(r$warnings))
    }
    res$random_slope_attempts <- att
  }
  if (case$case == "orthodont_compsymm_gls") {
    # the equivalent random-intercept model, and the (non-identifiable) lme
    # with both a random intercept and compound symmetry
    eq <- list(); idc <- list()
    for (meth in c("REML", "ML")) {
      key <- tolower(meth)
      e <- fit_text(build_call("lme", case$formula, "~ 1 | Subject", NULL, NULL, meth), d)
      D <- as.matrix(e$value$modelStruct$reStruct[[1]]) * e$value$sigma^2
      l4 <- lme4::lmer(distance ~ age + Sex + (1 | Subject), data = d, REML = meth == "REML")
      eq[[key]] <- list(call = e$call_text, loglik = as.numeric(logLik(e$value)),
                        lme4_loglik = as.numeric(logLik(l4)),
                        lme4_call = sprintf(paste0("lme4::lmer(distance ~ age + Sex + ",
                                                   "(1 | Subject), data = d, REML = %s)"),
                                            meth == "REML"),
                        tau2 = D[1, 1], sigma2 = e$value$sigma^2,
                        implied_rho = D[1, 1] / (D[1, 1] + e$value$sigma^2),
                        implied_total_var = D[1, 1] + e$value$sigma^2,
                        fixef = fixef_block(e$value))
      b <- tryCatch(fit_text(build_call("lme", case$formula, "~ 1 | Subject",
                                        case$correlation, NULL, meth), d),
                    error = function(err) list(error = conditionMessage(err)))
      if (!is.null(b$error)) {
        idc[[key]] <- list(call = build_call("lme", case$formula, "~ 1 | Subject",
                                             case$correlation, NULL, meth),
                           error = b$error)
      } else {
        mb <- b$value
        D <- as.matrix(mb$modelStruct$reStruct[[1]]) * mb$sigma^2
        idc[[key]] <- list(call = b$call_text, loglik = as.numeric(logLik(mb)),
                           tau2 = D[1, 1], sigma2 = mb$sigma^2,
                           rho = unname(coef(mb$modelStruct$corStruct, unconstrained = FALSE)),
                           apVar_ok = is.matrix(mb$apVar),
                           apVar_message = if (is.matrix(mb$apVar)) NULL else as.character(mb$apVar),
                           warnings = I(b$warnings))
      }
    }
    res$equivalent_lme <- eq
    res$identifiability_check <- idc
    res$identifiability_note <- paste(
      "lme with a random intercept AND corCompSymm(form = ~ 1 | Subject): for Rho >= 0",
      "tau2 and sigma2*Rho enter the marginal covariance only through their sum, so the",
      "split is not identified; nlme ends at an arbitrary point of the ridge (here Rho",
      "= 0), its log-likelihood equals equivalent_lme's, and apVar is reported",
      "non-positive definite. Use gls + corCompSymm or lme + random intercept, not both.")
  }
  res$software <- SOFTWARE
  res
}

for (case in cases) {
  cat(sprintf("[%s] %s ... ", format(Sys.time(), "%H:%M:%S"), case$case))
  t0 <- proc.time()[["elapsed"]]
  res <- tryCatch(run_case(case), error = function(e) {
    list(case = case$case, error = conditionMessage(e), software = SOFTWARE)
  })
  write_json_file(res, file.path(out_dir, paste0(case$case, ".json")))
  cat(sprintf("%s (%.1fs)\n", if (is.null(res$error)) "ok" else paste("ERROR:", res$error),
              proc.time()[["elapsed"]] - t0))
}
