// Placeholder: the web view replaces this file.
