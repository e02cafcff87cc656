//! The log lines about a misbehaving server: whether one may be written is
//! [`RateLimit`] (`machine::log_limit`, spec/log_limit.table); here is how
//! the rest is counted in words.

pub use crate::machine::log_limit::RateLimit;

/// " (N similar left out)" or nothing.
pub fn left_out(count: u64) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(" ({count} similar left out)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_of_the_rest_in_words() {
        assert_eq!(left_out(2), " (2 similar left out)");
        assert_eq!(left_out(0), "");
    }
}
