using Cairn.Core.Processes;

namespace Cairn.Core.Tests.Processes;

/// <summary>The one process runner: argument arrays, timeouts that kill the whole tree, redacted output.</summary>
public sealed class ProcessRunnerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly ProcessRunner Runner = ProcessRunner.Default;

    [Fact]
    public async Task Arguments_reach_the_program_as_given_never_through_a_shell()
    {
        var r = await Runner.RunAsync(new ProcessSpec("/bin/echo", ["a b", "$(touch /tmp/never)", "; rm -rf /", "'q'"]), Ct);
        Assert.True(r.Succeeded);
        Assert.Equal("a b $(touch /tmp/never) ; rm -rf / 'q'\n", r.StdOut);
        Assert.False(File.Exists("/tmp/never"));
    }

    [Fact]
    public async Task Input_is_written_and_exit_codes_and_errors_are_reported()
    {
        var r = await Runner.RunAsync(new ProcessSpec("/bin/sh", ["-c", "cat; echo oops >&2; exit 3"]) { StandardInput = "hello\n" }, Ct);
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("hello\n", r.StdOut);
        var e = Assert.Throws<CairnException>(() => r.ThrowIfFailed());
        Assert.Contains("exited 3: oops", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_timeout_kills_the_process_and_its_children()
    {
        var pidFile = Path.Combine(Path.GetTempPath(), "cairn-runner-" + Guid.NewGuid().ToString("N"));
        var spec = new ProcessSpec("/bin/sh", ["-c", $"sleep 300 & echo $! > {pidFile}; wait"]) { Timeout = TimeSpan.FromSeconds(1) };
        var r = await Runner.RunAsync(spec, Ct);
        Assert.True(r.TimedOut);
        Assert.False(r.Succeeded);
        var child = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        File.Delete(pidFile);
        // The child was killed with its parent: it is gone, or at most a zombie waiting to be reaped by init.
        var stat = $"/proc/{child}/stat";
        Assert.True(!File.Exists(stat) || File.ReadAllText(stat).Split(' ')[2] == "Z", $"child {child} still runs");
    }

    [Fact]
    public async Task Secrets_never_appear_in_output_errors_or_the_displayed_command()
    {
        const string secret = "s3cr3t-chap-password";
        var lines = new List<string>();
        var spec = new ProcessSpec("/bin/sh", ["-c", $"echo user {secret}; echo bad {secret} >&2; exit 1", "--password", secret])
        {
            Secrets = [secret],
            OnLine = (l, _) => { lock (lines) lines.Add(l); },
        };
        var r = await Runner.RunAsync(spec, Ct);
        var e = Assert.Throws<CairnException>(() => r.ThrowIfFailed());
        foreach (var text in new[] { r.StdOut, r.StdErr, e.Message, spec.Display(), string.Join('\n', lines) })
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        Assert.Contains("***", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_program_is_a_clear_error()
    {
        var e = await Assert.ThrowsAsync<CairnException>(() => Runner.RunAsync(new ProcessSpec("/nonexistent/zfs", ["list"]), Ct));
        Assert.Contains("cannot run /nonexistent/zfs", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancellation_kills_the_process_and_cancels_the_call()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = Runner.RunAsync(new ProcessSpec("/bin/sleep", ["300"]), cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }
}
