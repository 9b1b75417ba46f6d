#!/usr/bin/env Rscript
# Time lme4 / lmerTest in the same run as hiermod's benchmark (benchmarks/bench_reml.py).
#   Rscript benchmarks/time_lme4.R CSV FORMULA WHAT N
# WHAT: lmer_reml | lmer_ml (lme4::lmer from the formula and the data frame) |
#       kr (lmerTest::lmer + summary(ddf = "Kenward-Roger")) |
#       satterthwaite (lmerTest::lmer + summary(ddf = "Satterthwaite")).
# Prints one JSON line: {"median_s": ..., "all_s": [...], "n": N}. The CSV is read with the
# project's typing rule (tests/reference/scripts/ref_helpers.R), outside the timing.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
script_dir <- normalizePath("tests/reference/scripts")
source(file.path(script_dir, "ref_helpers.R"))
a <- commandArgs(trailingOnly = TRUE)
d <- read_ref_csv(a[1]); f <- as.formula(a[2]); what <- a[3]; n <- as.integer(a[4])
fun <- switch(what,
  lmer_reml = function() lme4::lmer(f, data = d, REML = TRUE),
  lmer_ml = function() lme4::lmer(f, data = d, REML = FALSE),
  kr = function() summary(lmerTest::lmer(f, data = d, REML = TRUE), ddf = "Kenward-Roger"),
  satterthwaite = function() summary(lmerTest::lmer(f, data = d, REML = TRUE),
                                     ddf = "Satterthwaite"),
  stop("unknown WHAT: ", what))
invisible(suppressWarnings(suppressMessages(fun())))  # warm-up
cat(toJSON(time_runs(fun, n), auto_unbox = TRUE, digits = NA), "\n")
