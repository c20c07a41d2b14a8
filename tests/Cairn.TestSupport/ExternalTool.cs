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
        Missing($"'{tool}' not found (Debian package {package})");
        return null!;
    }

    /// <summary>Checks that the shared library <paramref name="library"/> loads; skips (outside CI) or fails (in CI) when not.</summary>
    public static void RequireLibrary(string library, string package)
    {
        if (System.Runtime.InteropServices.NativeLibrary.TryLoad(library, out var handle))
        {
            System.Runtime.InteropServices.NativeLibrary.Free(handle);
            return;
        }
        Missing($"library '{library}' not found (Debian package {package})");
    }

    /// <summary>
    /// Fails in CI; outside it skips, and appends the test and the reason to <c>$CAIRN_SKIP_LOG</c> when set (test.sh
    /// lists them after its summary: the console logger shows a skipped test's name but not its reason).
    /// </summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Missing(string why)
    {
        if (InCi) Assert.Fail(why + ": CI must install it (.ci/run)");
        if (Environment.GetEnvironmentVariable("CAIRN_SKIP_LOG") is { Length: > 0 } log)
        {
            var test = TestContext.Current.Test?.TestDisplayName ?? "(fixture)";
            lock (Gate) File.AppendAllText(log, $"{test}: {why}\n");
        }
        Console.WriteLine("SKIP: " + why);
        Assert.Skip(why);
        throw new InvalidOperationException(why); // not reached: Assert.Skip throws
    }

    private static readonly Lock Gate = new();
}
