"""Reading rkt's tables (Go tabwriter with tab padding) back into cells, for tests."""


def _cell_starts(line: str) -> set[int]:
    starts, col, after_tab = {0}, 0, False
    for ch in line:
        if ch == "\t":
            col = (col // 8 + 1) * 8
            after_tab = True
            continue
        if after_tab:
            starts.add(col)
        after_tab = False
        col += 1
    return starts | ({col} if after_tab else set())


def table_rows(out: str) -> list[list[str]]:
    """Cells of each line, columns found where any line starts a cell after its tabs; empty
    cells come back as ''."""
    lines = out.splitlines()
    starts = sorted(set().union(*(_cell_starts(line) for line in lines))) if lines else []
    result = []
    for line in lines:
        flat = line.expandtabs(8)
        bounds = starts + [max(len(flat), starts[-1])]
        result.append([flat[a:b].strip() for a, b in zip(bounds, bounds[1:])])
    return result
