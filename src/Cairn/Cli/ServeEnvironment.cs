namespace Cairn.Cli;

/// <summary>
/// Runtime settings <c>cairn serve</c> runs with that the runtime reads only from the environment, before any managed
/// code runs (runtimeconfig.json cannot set them). The server re-executes itself once with the missing ones
/// (<c>GcBudget</c>); the native CLI sets them when it becomes the server. A variable the caller set (to
/// any value) is left as it is, so each can be turned back by setting it.
/// </summary>
internal static class ServeEnvironment
{
    /// <summary>The variables and the values the server wants, with why (docs/benchmarks.md has the measurements).</summary>
    public static readonly IReadOnlyList<(string Name, string Value)> Wanted =
    [
        // A 2 MiB gen0 budget: short GC pauses while LUN clone jobs keep many young objects alive (bench lun).
        ("DOTNET_GCgen0size", "0x200000"),
        // Socket completions run on the socket engine's thread instead of hopping to the thread pool: Kestrel's
        // receive and send loops only copy into and out of pipes there, never run Cairn's code. One wake-up less per
        // batch of iSCSI commands (bench qemu: 4 KiB writes through QEMU, CPU per write 18 -> 14 µs).
        ("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1"),
        // Idle thread-pool workers block at once instead of spinning in sched_yield for new work: on a small machine
        // the spinning took a fifth of the server's CPU under iSCSI load, CPU the initiator (QEMU) on the same host
        // needed (bench qemu).
        ("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit", "0"),
    ];

    /// <summary>The wanted variables the environment does not set yet.</summary>
    public static IReadOnlyList<(string Name, string Value)> Missing() =>
        [.. Wanted.Where(v => Environment.GetEnvironmentVariable(v.Name) is null)];
}
