//! `mdl completions SHELL` and `mdl man`: generated from the same clap definition that parses
//! the arguments, so they cannot drift from it.

use super::{Cli, CliError};
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `mdl.1` and one `mdl-<command>.1` page per subcommand into this directory instead
    /// of printing `mdl.1`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs, out: &mut impl Write) -> Result<(), CliError> {
    // Into memory first: clap_complete panics on a write error such as a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "mdl", &mut script);
    out.write_all(&script)?;
    Ok(())
}

pub fn man(args: ManArgs, out: &mut impl Write) -> Result<(), CliError> {
    let command = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(command, &dir)?;
            writeln!(out, "wrote man pages to {}", dir.display())?;
        }
        None => clap_mangen::Man::new(command).render(out)?,
    }
    Ok(())
}
