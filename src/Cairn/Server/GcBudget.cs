using Cairn.Cli;

namespace Cairn.Server;

/// <summary>
/// Gives <c>cairn serve</c> the runtime settings of <see cref="ServeEnvironment"/>, among them a small gen0 GC budget
/// (2 MiB): a LUN clone job keeps many young objects alive (its items' records, the clones and targets it adds), and a
/// gen0/gen1 pause lasts as long as it takes to copy what is still alive since the last one; with the default budget
/// (which scales with the CPU cache; several times this here) those pauses were 10-60 ms and made the tail of
/// clone_status reads while jobs run (bench <c>lun</c>, docs/benchmarks.md). The runtime reads these settings only from
/// the environment, before any managed code runs, so on Linux the server re-executes itself once, same process id and
/// arguments, with the missing variables set. Variables set by the caller (any value) are left as they are. It
/// executes the program's own path (<c>cairn</c>, or <c>dotnet</c> for <c>dotnet cairn.dll</c>), not
/// <c>/proc/self/exe</c>: the kernel names a process after the file it executed, and a server called <c>exe</c> is one
/// that <c>ps</c>, <c>pgrep cairn</c> and <c>ss -p</c> do not show.
/// </summary>
internal static class GcBudget
{
    /// <summary>Replaces this process with itself plus the missing variables; returns only if that was not possible.</summary>
    public static void EnsureForServe()
    {
        if (!OperatingSystem.IsLinux()) return;
        var missing = ServeEnvironment.Missing();
        if (missing.Count == 0) return;
        string[] argv;
        try
        {
            argv = File.ReadAllText("/proc/self/cmdline").Split('\0');
        }
        catch (IOException)
        {
            return;
        }
        if (argv.Length > 0 && argv[^1].Length == 0) argv = argv[..^1];
        if (argv.Length == 0) return;
        var errno = ProcessExec.Replace(Environment.ProcessPath ?? "/proc/self/exe", argv, missing);
        // Only reached if exec failed: run as we are, with the runtime's defaults.
        Console.Error.WriteLine($"cairn: could not re-execute with {string.Join(", ", missing.Select(v => v.Name + "=" + v.Value))} (errno {errno}); using the runtime's defaults");
    }
}
