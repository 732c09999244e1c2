//! The private PostgreSQL cluster recovers from a crash's leftovers.

use gezinsregie::db::cluster::{ClusterOptions, LocalCluster};

#[actix_web::test]
async fn a_stale_postmaster_pid_does_not_stop_the_next_start() {
    let dir = std::env::temp_dir().join(format!(
        "gezinsregie-stale-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let options = ClusterOptions {
        ephemeral: true,
        max_connections: 20,
    };
    let first = LocalCluster::start(&dir, &options)
        .await
        .expect("first start");
    first.stop().await.expect("stop");
    // What a crash leaves behind: a pid file naming a process that is gone.
    let pid_file = first.data_dir.join("postmaster.pid");
    std::fs::write(
        &pid_file,
        format!("999999\n{}\n0\n{}\n", first.data_dir.display(), first.port),
    )
    .unwrap();

    let second = LocalCluster::start(&dir, &options).await;

    let second = second.expect("starts despite the stale pid file");
    assert!(!second.adopted, "a dead pid is not adopted");
    second
        .ensure_database("probe")
        .await
        .expect("the cluster answers");
    second.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn a_cluster_left_running_is_adopted() {
    let dir = std::env::temp_dir().join(format!(
        "gezinsregie-adopt-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let options = ClusterOptions {
        ephemeral: true,
        max_connections: 20,
    };
    let first = LocalCluster::start(&dir, &options)
        .await
        .expect("first start");

    let second = LocalCluster::start(&dir, &options)
        .await
        .expect("second start");

    assert!(second.adopted);
    assert_eq!(second.port, first.port);
    second.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
