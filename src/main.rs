//! The `gezinsregie` binary: a thin layer over the library's command line
//! (`src/cli/`).

fn main() -> anyhow::Result<()> {
    gezinsregie::cli::main()
}
