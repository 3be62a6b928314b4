// `costcurve report`: plots (gnuplot: PNG via pngcairo and SVG), a self-contained index.html, a
// summary.md and the CSV data behind every plot, from sweep results and cost-model outputs.
//
// Labels and names come from untrusted files: they are reduced to a safe character set before they
// reach a gnuplot script (gnuplot can run system() and backquote substitutions) or HTML, gnuplot
// runs without a shell in the output directory, and every file name is fixed by the program.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

namespace costcurve {

struct ReportOptions {
  std::vector<std::filesystem::path> results;  // from `costcurve sweep`
  std::vector<std::filesystem::path> costs;    // from `costcurve cost`
  std::filesystem::path out_dir = "report";
  std::string gnuplot;  // executable; empty: "gnuplot" on PATH
};

// Returns 0 when the report was written (also without gnuplot: then data and scripts only, and
// it says how to render them), 2 for bad input, 1 when gnuplot failed. A file that cannot be
// written throws OutputError (the CLI exits 2).
int run_report(const ReportOptions& opt, std::ostream& out);

// What a label from an input file may contain in a gnuplot script or HTML: letters, digits, space
// and . , : ; ( ) / + = % $ - _ ; anything else becomes '?', and so does a '(' right after a
// letter, digit or '_' (no "system(" survives). At most max_chars characters.
std::string safe_label(const std::string& s, std::size_t max_chars = 120);
// & < > " ' as entities; control characters other than white space as '?'.
std::string html_escape(const std::string& s);

}  // namespace costcurve
