//! Names of per-workspace state files when several workspaces share one
//! `CONFIGS_DIR`.

/// The suffix that tells this workspace's files apart: the first 8
/// characters of its id, or the full id when another configured workspace
/// shares those 8 characters (two links or pollers must never write the
/// same file).
pub fn suffix(workspace_id: &str, all_ids: &[&str]) -> String {
    let short = first8(workspace_id);
    let shared = all_ids.iter().filter(|id| first8(id) == short).count() > 1;
    if shared {
        workspace_id.to_string()
    } else {
        short
    }
}

fn first8(id: &str) -> String {
    id.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefixes_fall_back_to_the_full_id() {
        let a = "abcdefgh-1111";
        assert_eq!(suffix(a, &[a, "zzzzzzzz-2222"]), "abcdefgh");
        assert_eq!(suffix(a, &[a]), "abcdefgh");
        assert_eq!(suffix(a, &[a, "abcdefgh-3333"]), "abcdefgh-1111");
        assert_eq!(suffix("short", &["short", "other"]), "short");
    }
}
