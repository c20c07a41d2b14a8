using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Cairn.Core.Processes;

/// <summary>
/// One external command: a program and its arguments as an array (never a shell, so no argument is ever parsed
/// again), a timeout, and optional input. <see cref="Secrets"/> are replaced by <c>***</c> wherever the command,
/// its output or its error is shown or logged.
/// </summary>
public sealed record ProcessSpec(string FileName, IReadOnlyList<string> Arguments)
{
    /// <summary>The whole process tree is killed when this runs out.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    public string? WorkingDirectory { get; init; }

    /// <summary>Variables to set (a null value removes one) on top of this process's environment.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>Written to standard input, which is then closed (null: standard input is empty).</summary>
    public string? StandardInput { get; init; }

    /// <summary>Strings never to show: passwords, CHAP secrets.</summary>
    public IReadOnlyList<string>? Secrets { get; init; }

    /// <summary>Called with each line of output as it arrives (stderr: true for standard error), already redacted.</summary>
    public Action<string, bool>? OnLine { get; init; }

    /// <summary>At most this many characters of each stream are kept in the result (the rest is still read).</summary>
    public int MaxCapture { get; init; } = 4 << 20;

    /// <summary>The command line as it may be shown: arguments quoted where needed, secrets redacted.</summary>
    public string Display() => Redact(string.Join(' ', new[] { FileName }.Concat(Arguments).Select(Quote)));

    /// <summary><paramref name="text"/> with every secret replaced by <c>***</c>.</summary>
    public string Redact(string text)
    {
        if (Secrets is null) return text;
        foreach (var s in Secrets)
            if (!string.IsNullOrEmpty(s)) text = text.Replace(s, "***", StringComparison.Ordinal);
        return text;
    }

    private static string Quote(string a) => a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@,+%".Contains(c)) ? a : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>What a command did. Output is redacted and capped at <see cref="ProcessSpec.MaxCapture"/>.</summary>
public sealed record ProcessResult(ProcessSpec Spec, int ExitCode, string StdOut, string StdErr, TimeSpan Elapsed, bool TimedOut)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    /// <summary>Returns this result when the command succeeded, else throws a <see cref="CairnException"/> naming the command and its error.</summary>
    public ProcessResult ThrowIfFailed(ErrorKind kind = ErrorKind.Internal)
    {
        if (Succeeded) return this;
        throw new CairnException(kind, Describe());
    }

    /// <summary>One line: the command, how it ended, and the last line of its error output.</summary>
    public string Describe()
    {
        var how = TimedOut ? $"timed out after {Spec.Timeout.TotalSeconds:0.#} s" : $"exited {ExitCode}";
        var err = LastLine(StdErr) ?? LastLine(StdOut);
        return $"{Spec.Display()} {how}" + (err is null ? "" : ": " + err);
    }

    /// <summary>The last non-empty line of <paramref name="text"/>, bounded in length.</summary>
    public static string? LastLine(string text)
    {
        var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        return line is null ? null : line.Length > 500 ? line[..500] + "…" : line;
    }
}

/// <summary>Runs external commands (zfs, tgtadm, ansible-runner, …).</summary>
public interface IProcessRunner
{
    /// <summary>
    /// Runs the command to its end, its timeout, or <paramref name="ct"/>; in the last two cases the whole process
    /// tree is killed (and the task ends as cancelled for <paramref name="ct"/>, or with <see cref="ProcessResult.TimedOut"/>).
    /// A program that cannot be started throws a <see cref="CairnException"/> naming it.
    /// </summary>
    Task<ProcessResult> RunAsync(ProcessSpec spec, CancellationToken ct = default);
}

/// <summary>The one process runner: argument arrays, timeouts, process-tree kill, streamed and redacted output.</summary>
public sealed partial class ProcessRunner(ILogger<ProcessRunner>? log = null) : IProcessRunner
{
    /// <summary>A runner that does not log.</summary>
    public static ProcessRunner Default { get; } = new();

    public async Task<ProcessResult> RunAsync(ProcessSpec spec, CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo(spec.FileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in spec.Arguments) psi.ArgumentList.Add(a);
        if (spec.WorkingDirectory is not null) psi.WorkingDirectory = spec.WorkingDirectory;
        // Tools print their messages in English and parseable numbers whatever the server's locale.
        psi.Environment["LC_ALL"] = "C";
        if (spec.Environment is not null)
            foreach (var (k, v) in spec.Environment)
                if (v is null) psi.Environment.Remove(k); else psi.Environment[k] = v;

        var sw = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        try
        {
            p.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CairnException(ErrorKind.NotSupported, $"cannot run {spec.FileName}: {e.Message} (is it installed?)", e);
        }
        if (log is not null) Log.Started(log, p.Id, spec.Display());

        var stdout = Pump(p.StandardOutput, spec, stderr: false);
        var stderr = Pump(p.StandardError, spec, stderr: true);
        try
        {
            if (spec.StandardInput is not null) await p.StandardInput.WriteAsync(spec.StandardInput.AsMemory(), ct);
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // The program exited without reading its input: its exit code says what happened.
        }

        bool timedOut = false;
        using var timeout = new CancellationTokenSource(spec.Timeout);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            await p.WaitForExitAsync(both.Token);
        }
        catch (OperationCanceledException)
        {
            Kill(p);
            timedOut = !ct.IsCancellationRequested;
            if (log is not null) Log.Killed(log, p.Id, spec.Display(), timedOut ? "timeout" : "cancelled");
            await p.WaitForExitAsync(CancellationToken.None);
        }
        // Both pipes reach end of file once the process and every child that inherited them are gone; a child that
        // outlived its parent keeps them open, so stop waiting soon after the parent exits.
        var output = Task.WhenAll(stdout, stderr);
        if (await Task.WhenAny(output, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)) != output) Kill(p);
        var result = new ProcessResult(spec, timedOut ? -1 : p.ExitCode, await stdout, await stderr, sw.Elapsed, timedOut);
        if (log is not null) Log.Finished(log, p.Id, result.ExitCode, sw.Elapsed.TotalMilliseconds);
        ct.ThrowIfCancellationRequested();
        return result;
    }

    private static void Kill(Process p)
    {
        try { p.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // already gone
        catch (System.ComponentModel.Win32Exception) { }
    }

    private static async Task<string> Pump(StreamReader reader, ProcessSpec spec, bool stderr)
    {
        var sb = new StringBuilder();
        while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
        {
            var shown = spec.Redact(line);
            spec.OnLine?.Invoke(shown, stderr);
            if (sb.Length < spec.MaxCapture) sb.Append(shown).Append('\n');
        }
        return sb.Length > spec.MaxCapture ? sb.ToString(0, spec.MaxCapture) : sb.ToString();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1501, Level = LogLevel.Debug, Message = "process {Pid} started: {Command}")]
        public static partial void Started(ILogger logger, int pid, string command);

        [LoggerMessage(EventId = 1502, Level = LogLevel.Debug, Message = "process {Pid} exited {ExitCode} after {Ms:0.0} ms")]
        public static partial void Finished(ILogger logger, int pid, int exitCode, double ms);

        [LoggerMessage(EventId = 1503, Level = LogLevel.Warning, Message = "process {Pid} killed with its children ({Why}): {Command}")]
        public static partial void Killed(ILogger logger, int pid, string command, string why);
    }
}
