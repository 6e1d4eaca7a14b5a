use clap::Parser;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = pavilion::cli::Cli::parse();
    pavilion::telemetry::init();
    pavilion::cli::run(cli).await
}
