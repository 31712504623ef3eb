//! Every authoritative nameserver of a host's TLSA zone, asked directly.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Asks every authoritative nameserver of the zone of `h`'s TLSA RRset for it (M-01), with
/// why the answers are not every server's when they are not.
pub async fn nameserver_answers(
    env: &Environment,
    h: &HostPlan,
    port: u16,
) -> (Vec<NsAnswer>, Option<NsGap>) {
    let Some(base) = &h.tlsa_base else {
        return (Vec::new(), None);
    };
    let owner = match base.tlsa_owner(port) {
        Ok(o) => o,
        Err(e) => return (Vec::new(), Some(NsGap::Unavailable(e.to_string()))),
    };
    // A TLSA owner that is an alias (RFC 7672 section 2.2.3): the servers that matter are
    // those of the name at the end of the validated chain.
    let owner = match env.resolver.lookup(&owner, rtype::TLSA).await {
        Ok(l) if *l.status() == Status::Secure => l.final_name().clone(),
        _ => owner,
    };
    let now = u32::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(u32::MAX);
    match mxdane_dns::nameservers::ask_all(env.resolver.as_ref(), &env.nameserver, &owner, now)
        .await
    {
        Ok(view) => {
            let gap = view.servers.incomplete().map(NsGap::Incomplete);
            (view.answers, gap)
        }
        Err(e) => (Vec::new(), Some(NsGap::Unavailable(e.to_string()))),
    }
}
