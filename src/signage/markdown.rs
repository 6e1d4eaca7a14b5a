//! Notice bodies: Markdown rendered to HTML, then sanitised.
