//! The external tier's PostgreSQL (`MXDANE_TEST_POSTGRES`, started by `.ci/run`): a client,
//! and a fresh database per test.

/// A connection to `url` (its driver task on the current runtime).
pub(crate) async fn client(url: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    tokio::spawn(conn);
    c
}

/// A new, empty database named after `name` and this process on the test server; its URL.
pub(crate) fn database(rt: &tokio::runtime::Runtime, name: &str) -> String {
    let base = std::env::var("MXDANE_TEST_POSTGRES")
        .expect("MXDANE_TEST_POSTGRES (postgres://user@127.0.0.1:PORT), which .ci/run sets");
    let base = base.trim_end_matches('/').to_owned();
    let db = format!("{name}_{}", std::process::id());
    rt.block_on(async {
        let c = client(&format!("{base}/postgres")).await;
        // One statement each: DROP and CREATE DATABASE refuse to run inside a transaction.
        for q in [
            format!("DROP DATABASE IF EXISTS {db}"),
            format!("CREATE DATABASE {db}"),
        ] {
            c.batch_execute(&q).await.unwrap();
        }
    });
    format!("{base}/{db}")
}
