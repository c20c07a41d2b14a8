using Xunit;

namespace Cairn.TestSupport;

/// <summary>
/// Tests that drive a real external tool (libiscsi, tgtd, zfs, curl…) call <see cref="Require"/> first.
/// Outside CI a missing tool skips the test with a printed reason; with CI=true it fails the test.
/// </summary>
public static class ExternalTool
{
    /// <summary>True when running under CI (CI=true).</summary>
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Full path of <paramref name="tool"/> on PATH (or an absolute path), or null.</summary>
    public static string? Find(string tool)
    {
        if (Path.IsPathRooted(tool)) return File.Exists(tool) ? tool : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            var p = Path.Combine(dir, tool);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>Returns the tool's path; skips (outside CI) or fails (in CI) when it is missing.</summary>
    public static string Require(string tool, string package)
    {
        var path = Find(tool);
        if (path is not null) return path;
        var why = $"'{tool}' not found (Debian package {package})";
        if (InCi) Assert.Fail(why + ": CI must install it (.ci/run)");
        Console.WriteLine("SKIP: " + why);
        Assert.Skip(why);
        return null!;
    }
}
