//! Redis Cluster under the same tasks: a pipeline the tasks build (it may
//! touch many rooms, so many slots) runs as one pipeline per slot, on the
//! slot's master, all at once; the replies come back in the order of the
//! commands, as from one Redis.
//!
//! Why it holds: the keys and channels of one room share its hash tag
//! (`{room}`, see [`Names`](super::Names)), and presence lives under the
//! tag `{presence}`, so a script or a `MULTI` block never spans slots.
//! Per slot the commands keep their order, which is all the engine's
//! ordering promise needs (per channel, so per slot, in publish order).
//! A command without a key (`SCRIPT LOAD`, `CLIENT ID`) goes with every
//! slot's pipeline, and answers as the first of them does. MOVED and ASK
//! are the redis crate's to follow: it refreshes its map of the slots and
//! sends the pipeline again to the right node.

use futures_util::future::try_join_all;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{Arg, Cmd, Pipeline, RedisResult, Value};

/// The key a command is routed by, for the commands the engine sends;
/// `None` for those without one.
fn key(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().map(|arg| match arg {
        Arg::Simple(bytes) => bytes,
        _ => &b""[..],
    });
    let name = args.next()?;
    if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        let _script = args.next()?;
        let keys = args.next()?;
        return (keys != b"0").then(|| args.next()).flatten();
    }
    const KEYLESS: [&[u8]; 6] = [b"MULTI", b"EXEC", b"SCRIPT", b"CLIENT", b"COMMAND", b"PING"];
    if KEYLESS.iter().any(|k| name.eq_ignore_ascii_case(k)) {
        return None;
    }
    args.next()
}

fn is(cmd: &Cmd, name: &[u8]) -> bool {
    matches!(cmd.args_iter().next(), Some(Arg::Simple(n)) if n.eq_ignore_ascii_case(name))
}

/// The units of a pipeline (a command, or a `MULTI` ... `EXEC` block, which
/// must stay whole), each with the route of its first key.
fn units(pipeline: &Pipeline) -> Vec<(Option<Route>, Vec<usize>)> {
    let mut units: Vec<(Option<Route>, Vec<usize>)> = Vec::new();
    let mut in_block = false;
    for (i, cmd) in pipeline.cmd_iter().enumerate() {
        let route = key(cmd).map(|key| Route::with_key(key, SlotAddr::Master));
        if in_block {
            let unit = units.last_mut().expect("a block is open");
            unit.1.push(i);
            unit.0 = unit.0.or(route);
            in_block = !is(cmd, b"EXEC");
        } else {
            in_block = is(cmd, b"MULTI");
            units.push((route, vec![i]));
        }
    }
    units
}

/// Runs `pipeline` (not atomic) on the cluster, one pipeline per slot.
pub(super) async fn pipeline(
    conn: &ClusterConnection,
    pipeline: &Pipeline,
) -> RedisResult<Vec<Value>> {
    let units = units(pipeline);
    let mut routes: Vec<Route> = Vec::new();
    for route in units.iter().filter_map(|(route, _)| *route) {
        if !routes.contains(&route) {
            routes.push(route);
        }
    }
    if routes.is_empty() {
        // Nothing keyed: the redis crate routes it as a whole.
        let mut conn = conn.clone();
        return redis::aio::ConnectionLike::req_packed_commands(
            &mut conn,
            pipeline,
            0,
            pipeline.len(),
        )
        .await;
    }
    let cmds: Vec<&Cmd> = pipeline.cmd_iter().collect();
    // Per route, the indices of its commands in the pipeline, in order.
    let groups: Vec<Vec<usize>> = routes
        .iter()
        .map(|route| {
            units
                .iter()
                .filter(|(r, _)| r.is_none() || r.as_ref() == Some(route))
                .flat_map(|(_, indices)| indices.iter().copied())
                .collect()
        })
        .collect();
    let calls = routes.iter().zip(&groups).map(|(route, indices)| {
        let mut part = redis::pipe();
        for &i in indices {
            part.add_command(cmds[i].clone());
        }
        let mut conn = conn.clone();
        let n = indices.len();
        let route = SingleNodeRoutingInfo::SpecificNode(*route);
        async move { conn.route_pipeline(part, 0, n, route).await }
    });
    let replies = try_join_all(calls).await?;
    let mut out: Vec<Option<Value>> = vec![None; cmds.len()];
    for (indices, values) in groups.iter().zip(replies) {
        for (&i, value) in indices.iter().zip(values) {
            // A keyless command answers as it did in the first pipeline.
            if out[i].is_none() {
                out[i] = Some(value);
            }
        }
    }
    Ok(out.into_iter().map(|v| v.unwrap_or(Value::Nil)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_splits_by_slot_and_keeps_blocks_whole() {
        let mut pipe = redis::pipe();
        pipe.cmd("SCRIPT").arg("LOAD").arg("return 1");
        pipe.cmd("SPUBLISH").arg("c:{a}").arg("x");
        pipe.cmd("MULTI");
        pipe.cmd("HSET").arg("k:{presence}:1").arg("f").arg(1);
        pipe.cmd("PEXPIRE").arg("k:{presence}:1").arg(10);
        pipe.cmd("EXEC");
        pipe.cmd("EVALSHA")
            .arg("sha")
            .arg(2)
            .arg("h{b}:x")
            .arg("h{b}:y");
        let units = units(&pipe);
        let shape: Vec<(bool, Vec<usize>)> = units
            .iter()
            .map(|(route, indices)| (route.is_some(), indices.clone()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (false, vec![0]),
                (true, vec![1]),
                (true, vec![2, 3, 4, 5]),
                (true, vec![6]),
            ]
        );
        assert_eq!(
            units[3].0,
            Some(Route::with_key("{b}", SlotAddr::Master)),
            "a script by its first key"
        );
        assert_eq!(
            units[2].0,
            Some(Route::with_key("presence", SlotAddr::Master))
        );
    }
}
