using System.Globalization;

namespace Cairn.TestSupport;

/// <summary>Processes below a process, from /proc (field 4 of /proc/N/stat is the parent's id).</summary>
public static class ProcessTree
{
    /// <summary>Every process below <paramref name="pid"/>, children first, deepest last.</summary>
    public static List<int> Descendants(int pid)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var p)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length > 1 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid)) parents[p] = ppid;
        }
        var result = new List<int>();
        var frontier = new List<int> { pid };
        while (frontier.Count > 0)
        {
            frontier = [.. parents.Where(kv => frontier.Contains(kv.Value)).Select(kv => kv.Key)];
            result.AddRange(frontier);
        }
        return result;
    }

    /// <summary>The name the kernel gives a process (/proc/N/comm), empty when it is gone.</summary>
    public static string Comm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (IOException) { return ""; }
    }
}
