//! `[limits]` for each listener, and the file-handle budget they must fit in
//! (docs/security.md, "Limits").

use raftmasq_config::LimitsConfig;
use raftmasq_limits::{ListenerLimits, handles};

/// The cluster listener's caps and timeouts.
pub fn cluster(limits: &LimitsConfig) -> ListenerLimits {
    http(limits, limits.cluster_connections)
}

/// The admin listener's caps and timeouts.
pub fn admin(limits: &LimitsConfig) -> ListenerLimits {
    http(limits, limits.admin_connections)
}

fn http(limits: &LimitsConfig, max_connections: usize) -> ListenerLimits {
    ListenerLimits {
        max_connections,
        max_per_client: limits.connections_per_client,
        header_timeout: limits.header_timeout,
        idle_timeout: limits.idle_timeout,
        request_timeout: limits.request_timeout,
    }
}

/// Raises the soft open-file limit to the hard one and says, once at start,
/// whether the caps leave the reserve free. Not fatal: the caps still bound
/// what an attacker can take, but UDP DNS or storage may then run short.
pub fn check_handle_budget(limits: &LimitsConfig) {
    let connections = limits.total_connections() as u64;
    match handles::raise_open_file_limit() {
        Ok(limit) if handles::fits(connections, limit) => tracing::info!(
            open_file_limit = limit,
            connections,
            reserved = handles::RESERVED_HANDLES,
            "file handles: the listeners' caps fit"
        ),
        Ok(limit) => tracing::error!(
            open_file_limit = limit,
            connections,
            reserved = handles::RESERVED_HANDLES,
            "file handles: the listeners' caps ([limits]) and the reserve exceed the open-file limit: lower the caps or raise LimitNOFILE"
        ),
        Err(error) => tracing::warn!(%error, "cannot read or raise the open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    use raftmasq_config::Config;

    #[test]
    fn the_listeners_take_their_caps_and_the_shared_timeouts() {
        let example = include_str!("../examples/lxd1.toml");
        let mut config = Config::from_toml(example, "lxd1.toml").expect("the example parses");
        config.limits.cluster_connections = 7;
        config.limits.admin_connections = 5;
        config.limits.connections_per_client = 3;
        let cluster = super::cluster(&config.limits);
        let admin = super::admin(&config.limits);
        assert_eq!(cluster.max_connections, 7);
        assert_eq!(admin.max_connections, 5);
        assert_eq!((cluster.max_per_client, admin.max_per_client), (3, 3));
        assert_eq!(cluster.header_timeout, config.limits.header_timeout);
    }
}
