namespace Cairn.Bench;

internal static class BenchArgs
{
    /// <summary>Value of <c>--name VALUE</c>, or the default.</summary>
    public static string Get(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, "--" + name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    /// <summary>A fresh scratch directory under --dir (default $TMPDIR/cairn-bench), removed by the caller.</summary>
    public static string Scratch(string[] args, string what)
    {
        var root = Path.GetFullPath(Get(args, "dir", Path.Combine(Path.GetTempPath(), "cairn-bench")));
        var dir = Path.Combine(root, what + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
