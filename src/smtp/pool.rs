//! Connection cache for the next hop (amavisd's `$smtp_connection_cache_enable`,
//! on by default there too): a finished transaction leaves the connection
//! open for the next message, saving the connect/greeting/EHLO round trips.
//! Idle connections are closed after [`IDLE`], so no smtpd process is held
//! longer than that.

use crate::config::Method;
use crate::smtp::client::{Client, ClientError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an idle connection is kept.
pub const IDLE: Duration = Duration::from_secs(5);
/// Idle connections kept per destination.
const MAX_IDLE: usize = 64;

/// Idle clients by destination (method spec plus, for `*` forms, the local address).
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<(Instant, Client)>>>,
}

fn key(method: &Method, local: Option<SocketAddr>) -> String {
    format!("{}|{:?}", method.spec, local)
}

impl Pool {
    /// A connected client: a fresh idle one if any, else a new connection.
    /// The bool says whether it came from the cache (then a failure before
    /// anything was accepted may be retried on a new connection).
    pub async fn get(
        &self,
        method: &Method,
        local: Option<SocketAddr>,
        helo: &str,
        wait: Duration,
    ) -> Result<(Client, bool), ClientError> {
        let k = key(method, local);
        let cached = {
            let mut idle = self.idle.lock().expect("pool lock");
            let list = idle.entry(k).or_default();
            let mut found = None;
            while let Some((since, c)) = list.pop() {
                if since.elapsed() < IDLE {
                    found = Some(c);
                    break;
                }
                // Too old: dropped (closed) without QUIT; Postfix logs a lost connection only at debug levels.
            }
            found
        };
        if let Some(c) = cached {
            return Ok((c, true));
        }
        Ok((Client::connect(method, local, helo, wait).await?, false))
    }

    /// Return a client after a clean transaction.
    pub fn put(&self, method: &Method, local: Option<SocketAddr>, c: Client) {
        if !c.reusable() {
            return;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        let list = idle.entry(key(method, local)).or_default();
        if list.len() < MAX_IDLE {
            list.push((Instant::now(), c));
        }
    }

    /// Close connections idle longer than [`IDLE`] (QUIT, best effort).
    pub async fn reap(&self) {
        let old: Vec<Client> = {
            let mut idle = self.idle.lock().expect("pool lock");
            let mut out = Vec::new();
            for list in idle.values_mut() {
                let (keep, drop): (Vec<_>, Vec<_>) =
                    list.drain(..).partition(|(t, _)| t.elapsed() < IDLE);
                *list = keep;
                out.extend(drop.into_iter().map(|(_, c)| c));
            }
            out
        };
        for c in old {
            c.quit().await;
        }
    }
}
