
namespace Cairn.Server;

/// <summary>
/// Gives <c>cairn serve</c> a small gen0 budget (2 MiB). A LUN clone job keeps many young objects alive (its items'
/// records, the clones and targets it adds), and a gen0/gen1 pause lasts as long as it takes to copy what is still
/// alive since the last one: with the default budget (which scales with the CPU cache; several times this here)
/// those pauses were 10-60 ms and made the tail of clone_status reads while jobs run. Smaller budgets mean more
/// pauses of a few ms each (bench <c>lun</c>, docs/benchmarks.md). The runtime reads this setting only from the
/// environment (<c>DOTNET_GCgen0size</c>; runtimeconfig.json cannot set it), before any managed code runs, so on
/// Linux the server re-executes itself once, same process id and arguments, with the variable set. A variable set by
/// the caller (any value) is left as it is. It executes the program's own path (<c>cairn</c>, or <c>dotnet</c> for
/// <c>dotnet cairn.dll</c>), not <c>/proc/self/exe</c>: the kernel names a process after the file it executed, and a
/// server called <c>exe</c> is one that <c>ps</c>, <c>pgrep cairn</c> and <c>ss -p</c> do not show.
/// </summary>
internal static class GcBudget
{
    public const string Variable = "DOTNET_GCgen0size";
    public const string Value = "0x200000";

    /// <summary>Replaces this process with itself plus the variable; returns only if that was not possible.</summary>
    public static void EnsureForServe()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(Variable) is not null) return;
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
        var errno = Cli.ProcessExec.Replace(Environment.ProcessPath ?? "/proc/self/exe", argv, Variable, Value);
        // Only reached if exec failed: run as we are, with the runtime's default budget.
        Console.Error.WriteLine($"cairn: could not re-execute with {Variable}={Value} (errno {errno}); using the default GC budget");
    }
}
