//! Prints a development JWT for a user id:
//! `cargo run -q -p shared --bin dev-token -- alice`.
//!
//! Signed with `AUTH_HS256_SECRET`, or the development secret the services
//! also default to; valid for 24 hours (`--ttl SECONDS` to change).

use std::time::Duration;

use anyhow::{Context, bail};
use shared::auth::{DEV_HS256_SECRET, issue_hs256_token};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut user = None;
    let mut ttl = Duration::from_secs(24 * 3600);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ttl" => {
                let secs = args.next().context("--ttl needs a number of seconds")?;
                ttl = Duration::from_secs(secs.parse().context("--ttl needs a number of seconds")?);
            }
            _ if user.is_none() => user = Some(arg),
            _ => bail!("usage: dev-token USER_ID [--ttl SECONDS]"),
        }
    }
    let Some(user) = user else { bail!("usage: dev-token USER_ID [--ttl SECONDS]") };
    let secret = shared::config::string("AUTH_HS256_SECRET", DEV_HS256_SECRET);
    let token = issue_hs256_token(&secret, &user, ttl)?;
    #[allow(clippy::print_stdout)]
    {
        println!("{token}");
    }
    Ok(())
}
