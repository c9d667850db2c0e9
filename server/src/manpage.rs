//! The agent's man page (`bbctl-agent man`): clap's, plus a section per subcommand with
//! options (`BBCTL-AGENT INIT`) holding its long description and its options, since
//! clap_mangen alone lists only the subcommands' one-line summaries.

/// Renders the man page of `cmd` (roff) into `page`.
pub fn render(cmd: &clap::Command, page: &mut Vec<u8>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(page)?;
    man.render_name_section(page)?;
    man.render_synopsis_section(page)?;
    man.render_description_section(page)?;
    man.render_options_section(page)?;
    man.render_subcommands_section(page)?;
    for sub in cmd.get_subcommands() {
        // clap takes a heading as `&'static str` (without its `string` feature); one per
        // subcommand, once per process.
        let heading: &'static str =
            Box::leak(format!("{} {}", cmd.get_name(), sub.get_name()).into_boxed_str());
        let sub = sub
            .clone()
            .disable_help_flag(true)
            .mut_args(|a| a.help_heading(heading));
        if sub.get_arguments().next().is_none() {
            continue;
        }
        let mut options = Vec::new();
        clap_mangen::Man::new(sub.clone()).render_options_section(&mut options)?;
        // The section's `.SH` line, the subcommand's long description, then its options.
        let text = String::from_utf8_lossy(&options).into_owned();
        let split = text
            .find(".SH ")
            .and_then(|at| text[at..].find('\n').map(|end| at + end + 1))
            .unwrap_or(0);
        page.extend_from_slice(&text.as_bytes()[..split]);
        if let Some(about) = sub.get_long_about() {
            for paragraph in about.to_string().split("\n\n") {
                page.extend_from_slice(format!(".PP\n{}\n", roff_text(paragraph)).as_bytes());
            }
        }
        page.extend_from_slice(&text.as_bytes()[split..]);
    }
    if cmd.get_version().is_some() || cmd.get_long_version().is_some() {
        man.render_version_section(page)?;
    }
    if cmd.get_author().is_some() {
        man.render_authors_section(page)?;
    }
    Ok(())
}

/// `text` as roff body text: backslashes escaped, no line taken for a request.
fn roff_text(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.trim().replace('\\', "\\e").replace('-', "\\-");
            if l.starts_with(['.', '\'']) {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_subcommand_with_options_gets_a_section() {
        let cmd = clap::Command::new("tool")
            .subcommand(
                clap::Command::new("init")
                    .about("Short.")
                    .long_about("Short.\n\nLonger .text with a \\ and -x.")
                    .arg(clap::Arg::new("force").long("force").help("Replace it")),
            )
            .subcommand(clap::Command::new("bare").about("No options."));
        let mut page = Vec::new();
        super::render(&cmd, &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        let section = &page[page.find(".SH \"TOOL INIT\"\n").expect(&page)..];
        assert!(
            section.starts_with(
                ".SH \"TOOL INIT\"\n.PP\nShort.\n.PP\nLonger .text with a \\e and \\-x.\n.TP\n"
            ),
            "{section}"
        );
        assert!(section.contains("Replace it"), "{section}");
        assert!(!section.contains("help"), "{section}");
        assert!(!page.contains("TOOL BARE"), "{page}");
    }
}
