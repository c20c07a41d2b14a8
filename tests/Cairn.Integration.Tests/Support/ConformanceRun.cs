using System.Globalization;
using System.Text.RegularExpressions;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Support;

/// <summary>
/// One run of libiscsi's iscsi-test-cu (destructive and SANITIZE tests allowed, two initiator names, the same LUN
/// given twice so the multipath tests run), its output kept in a temp file that every assertion message names, and
/// what it says: CUnit's totals, the [SKIPPED] lines (CUnit counts a skipped test as passed) and which tests failed.
/// </summary>
public sealed partial class ConformanceRun
{
    public required string OutputPath { get; init; }
    public required int Total { get; init; }
    public required int Failed { get; init; }
    public required int SkippedLines { get; init; }

    /// <summary>SUITE.TEST of every test CUnit marked FAILED, read from the per-test lines.</summary>
    public required IReadOnlySet<string> FailedTests { get; init; }

    /// <summary>Runs the suite against <paramref name="lun"/> (<c>iscsi://HOST:PORT/IQN/LUN</c>, given twice).</summary>
    public static async Task<ConformanceRun> RunAsync(string lun, string init1, string init2, string outputName, string tests = "ALL")
    {
        var tool = ExternalTool.Require("iscsi-test-cu", "libiscsi-bin");
        var run = await Commands.RunAsync(tool, ["-d", "-S", "-t", tests, "-i", init1, "-I", init2, lun, lun], TimeSpan.FromMinutes(20));
        var output = run.StdOut + run.StdErr;
        var path = Path.Combine(Path.GetTempPath(), outputName);
        await File.WriteAllTextAsync(path, output);
        Assert.False(run.TimedOut, $"iscsi-test-cu did not finish in 20 minutes ({path})");

        var m = TestsRow().Match(output);
        Assert.True(m.Success, $"no CUnit summary in the output ({path})");
        var r = new ConformanceRun
        {
            OutputPath = path,
            Total = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
            Failed = int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture),
            SkippedLines = output.Split('\n').Count(l => l.Contains("[SKIPPED]", StringComparison.Ordinal)),
            FailedTests = FailedTestNames(run.StdOut),
        };
        Assert.True(r.FailedTests.Count == r.Failed,
            $"CUnit counts {r.Failed} failed tests but the per-test lines name {r.FailedTests.Count} ({string.Join(", ", r.FailedTests)}); output in {path}");
        return r;
    }

    /// <summary>
    /// CUnit prints "Suite: S", then per test "  Test: T ..." followed (after whatever the test logs) by "passed" or
    /// "FAILED" and the failed assertions; a test failed when its verdict word is FAILED.
    /// </summary>
    private static HashSet<string> FailedTestNames(string stdout)
    {
        var failed = new HashSet<string>(StringComparer.Ordinal);
        string suite = "", test = "";
        foreach (var raw in stdout.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("Suite: ", StringComparison.Ordinal)) { suite = line["Suite: ".Length..].Trim(); test = ""; continue; }
            var t = TestLine().Match(line);
            if (t.Success)
            {
                test = suite + "." + t.Groups[1].Value;
                if (t.Groups[2].Value.StartsWith("FAILED", StringComparison.Ordinal)) failed.Add(test);
                continue;
            }
            if (test.Length > 0 && line.Trim() == "FAILED") failed.Add(test);
        }
        return failed;
    }

    [GeneratedRegex(@"^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", RegexOptions.Multiline)]
    private static partial Regex TestsRow();

    [GeneratedRegex(@"^  Test: (\S+) \.\.\.(.*)$")]
    private static partial Regex TestLine();
}
