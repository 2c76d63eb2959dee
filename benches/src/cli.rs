//! The part of criterion's command line the benches need for what they measure outside
//! criterion's sampler (the 10k `nft -f` reference): the benchmark filter and the mode.
//!
//! It reads the same arguments criterion's `configure_from_args` does (criterion 0.7): the first
//! positional argument is a regular expression over `group/function/parameter` (a plain
//! string with `--exact`); `--bench` without `--test` is a benchmark run, anything else a test
//! run (`cargo test --benches`); `--list` lists; `--profile-time` profiles.

use regex::Regex;

/// Criterion's options that take a value (long names, and short `-c`, `-s`, `-b`).
const WITH_VALUE: [&str; 16] = [
    "color",
    "save-baseline",
    "baseline",
    "baseline-lenient",
    "format",
    "profile-time",
    "load-baseline",
    "sample-size",
    "warm-up-time",
    "measurement-time",
    "nresamples",
    "noise-threshold",
    "confidence-level",
    "significance-level",
    "plotting-backend",
    "output-format",
];
const SHORT_WITH_VALUE: [&str; 3] = ["-c", "-s", "-b"];

/// What a run of the bench binary was asked to do.
#[derive(Clone, Debug)]
pub struct Args {
    filter: Filter,
    /// Run each benchmark once, as a test (`cargo test --benches`, or `--test`).
    pub test: bool,
    /// Only list the benchmarks (`--list`).
    pub list: bool,
    /// Profile instead of measuring (`--profile-time`).
    pub profile: bool,
}

#[derive(Clone, Debug)]
enum Filter {
    All,
    Regex(Regex),
    Exact(String),
}

impl Args {
    /// The process's arguments.
    pub fn from_env() -> Self {
        Self::parse(std::env::args().skip(1))
    }

    /// Parses arguments (without the program name). An invalid regular expression selects
    /// nothing (criterion itself refuses it before any benchmark runs).
    pub fn parse<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut filter = None;
        let (mut bench, mut test, mut list, mut exact, mut profile) =
            (false, false, false, false, false);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let arg = arg.as_ref();
            if let Some(long) = arg.strip_prefix("--") {
                let (name, inline_value) = match long.split_once('=') {
                    Some((name, _)) => (name, true),
                    None => (long, false),
                };
                match name {
                    "bench" => bench = true,
                    "test" => test = true,
                    "list" => list = true,
                    "exact" => exact = true,
                    "profile-time" => profile = true,
                    _ => {}
                }
                if WITH_VALUE.contains(&name) && !inline_value {
                    args.next();
                }
            } else if arg.starts_with('-') && arg.len() > 1 {
                if SHORT_WITH_VALUE.contains(&arg) {
                    args.next();
                }
            } else if filter.is_none() {
                filter = Some(arg.to_owned());
            }
        }
        let filter = match filter {
            None => Filter::All,
            Some(f) if exact => Filter::Exact(f),
            Some(f) => match Regex::new(&f) {
                Ok(re) => Filter::Regex(re),
                Err(_) => Filter::Exact(String::new()),
            },
        };
        Args {
            filter,
            test: !bench || test,
            list,
            profile,
        }
    }

    /// Whether criterion would run the benchmark `id` (`group/function/parameter`).
    pub fn selects(&self, id: &str) -> bool {
        match &self.filter {
            Filter::All => true,
            Filter::Regex(re) => re.is_match(id),
            Filter::Exact(s) => s == id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "full_sync/nft_f_kube_proxy_shape/10k_x5";

    #[test]
    fn cargo_bench_runs_everything() {
        let a = Args::parse(["--bench"]);
        assert!(!a.test && !a.list && !a.profile);
        assert!(a.selects(ID));
    }

    #[test]
    fn filters_are_regular_expressions() {
        assert!(Args::parse(["--bench", "full_sync"]).selects(ID));
        assert!(Args::parse(["--bench", "nft_f.*/10k"]).selects(ID));
        assert!(Args::parse(["--bench", "full_sync/(svcproxy|nft_f)"]).selects(ID));
        assert!(!Args::parse(["--bench", "add_service"]).selects(ID));
        assert!(!Args::parse(["--bench", "5k"]).selects(ID));
        assert!(!Args::parse(["--bench", "(unclosed"]).selects(ID));
    }

    #[test]
    fn option_values_are_not_filters() {
        let a = Args::parse(["--save-baseline", "add_service", "--bench"]);
        assert!(a.selects(ID));
        let a = Args::parse(["-s", "x", "--sample-size=20", "--bench", "10k"]);
        assert!(a.selects(ID));
        let a = Args::parse(["--bench", "--exact", "full_sync"]);
        assert!(!a.selects(ID));
        assert!(Args::parse(["--exact", ID, "--bench"]).selects(ID));
    }

    #[test]
    fn modes() {
        assert!(Args::parse::<[&str; 0], _>([]).test);
        assert!(Args::parse(["--bench", "--test"]).test);
        assert!(Args::parse(["--bench", "--list"]).list);
        assert!(Args::parse(["--bench", "--profile-time", "5"]).profile);
    }
}
