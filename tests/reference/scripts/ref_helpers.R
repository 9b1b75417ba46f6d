# Shared helpers for nlme_reference.R, inference_reference.R and
# crossed_reference.R.  Sourced, not run on its own.  Uses the same
# CSV-typing convention as case_data.R (which it sources):
#   * double-quoted CSV values -> character -> factor with levels in C-locale
#     (byte) order, so the reference level is the first in that order;
#   * unquoted numeric columns stay numeric.

suppressPackageStartupMessages(library(jsonlite))

helpers_dir <- if (exists("script_dir")) script_dir else local({
  a <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else
    normalizePath("tests/reference/scripts")
})
source(file.path(helpers_dir, "case_data.R"))   # write_json_file, make_factor, empty_obj

# repository root = three levels above tests/reference/scripts
repo_root <- normalizePath(file.path(helpers_dir, "..", "..", ".."))
ref_dir <- file.path(repo_root, "tests", "reference")

# Read a CSV written by write.csv with the project's typing rule.
read_ref_csv <- function(path) {
  if (!grepl("^/", path)) path <- file.path(repo_root, path)
  hdr <- readLines(path, n = 2)
  cols <- scan(text = hdr[1], what = "", sep = ",", quiet = TRUE)
  first <- split_csv_line(hdr[2])
  if (length(first) != length(cols)) stop("cannot type columns of ", path)
  quoted <- grepl('^".*"$', first)
  cc <- setNames(ifelse(quoted, "character", NA_character_), cols)
  d <- read.csv(path, colClasses = cc, stringsAsFactors = FALSE, check.names = FALSE)
  for (nm in names(d)) if (is.character(d[[nm]])) d[[nm]] <- make_factor(d[[nm]])
  d
}

# Write a data frame the way the bundled data were written: write.csv, no
# row names; character/factor columns are quoted.
write_ref_csv <- function(d, path) {
  if (!grepl("^/", path)) path <- file.path(repo_root, path)
  dir.create(dirname(path), showWarnings = FALSE, recursive = TRUE)
  for (nm in names(d)) if (is.factor(d[[nm]])) d[[nm]] <- as.character(d[[nm]])
  write.csv(d, path, row.names = FALSE)
  invisible(path)
}

capture <- function(expr) {
  warns <- character(); msgs <- character()
  val <- withCallingHandlers(expr,
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
    },
    message = function(m) {
      msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage")
    })
  list(value = val, warnings = unique(warns), messages = unique(msgs))
}

# wall-clock timing: median of n runs of fun() (warnings/messages muffled)
time_runs <- function(fun, n = 7L) {
  t <- vapply(seq_len(n), function(i) {
    gc(FALSE)
    s <- proc.time()[["elapsed"]]
    suppressWarnings(suppressMessages(fun()))
    proc.time()[["elapsed"]] - s
  }, numeric(1))
  list(median_s = round(median(t), 4), all_s = I(round(t, 4)), n = n)
}

# a named matrix as JSON: row names, column names and the values row by row
mat_json <- function(m) {
  m <- as.matrix(m)
  nm <- function(x) if (is.null(x)) NULL else I(x)
  list(rows = nm(rownames(m)), cols = nm(colnames(m)),
       values = unname(lapply(seq_len(nrow(m)), function(i) unname(m[i, ]))))
}

named_list <- function(x) as.list(setNames(unname(x), names(x)))

deb_version <- function(pkg) {
  v <- tryCatch(system2("dpkg-query", c("-W", shQuote("-f=${Version}"), pkg),
                        stdout = TRUE, stderr = FALSE),
                error = function(e) NA_character_, warning = function(w) NA_character_)
  if (length(v) == 0) NA_character_ else v[1]
}

software_info <- function(pkgs) {
  rp <- list(); dp <- list()
  for (p in pkgs) {
    rp[[p]] <- packageDescription(p)$Version
    dp[[paste0("r-cran-", tolower(p))]] <- deb_version(paste0("r-cran-", tolower(p)))
  }
  dp[["r-base-core"]] <- deb_version("r-base-core")
  list(R = R.version.string,
       packages = rp,
       debian_packages = dp,
       platform = R.version$platform,
       blas = tryCatch(La_library(), error = function(e) NA_character_),
       lapack = tryCatch(La_version(), error = function(e) NA_character_),
       cpus = parallel::detectCores(),
       date = format(Sys.time(), "%Y-%m-%d", tz = "UTC"))
}
