//! `gezinsregie audit export` and `audit verify`.

use anyhow::{bail, Context};

use super::AuditCommand;
use crate::audit::{chain, export};
use crate::db;

pub async fn run(command: AuditCommand, url: &str) -> anyhow::Result<()> {
    match command {
        AuditCommand::Export {
            municipality,
            from,
            to,
            format,
            output,
            print_statement,
        } => {
            let municipality = municipality
                .map(|m| crate::domain::MunicipalityCode::parse(&m))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--municipality: {}", e.reason))?;
            let (from, to) = crate::audit::model::day_bounds(from, to);
            let spec = export::ExportSpec {
                municipality,
                from,
                to,
                format,
            };
            if print_statement {
                println!("{}", spec.copy_statement());
                return Ok(());
            }
            let (head, bytes) = match output {
                Some(path) => {
                    let mut file = tokio::fs::File::create(&path)
                        .await
                        .with_context(|| format!("creating {}", path.display()))?;
                    export::export_to(url, &spec, &mut file).await?
                }
                None => export::export_to(url, &spec, &mut tokio::io::stdout()).await?,
            };
            match head {
                Some(head) => {
                    eprintln!("exported {bytes} bytes; chain head {}", head.header_value())
                }
                None => eprintln!("exported {bytes} bytes; the chain is empty"),
            }
            Ok(())
        }
        AuditCommand::Verify { from, to } => {
            let (from, to) = crate::audit::model::day_bounds(from, to);
            let mut conn = db::connect(url).await?;
            let report = chain::verify(&mut conn, from, to).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.valid {
                bail!(
                    "the audit trail fails verification: {} problem(s)",
                    report.problem_count
                );
            }
            Ok(())
        }
    }
}
