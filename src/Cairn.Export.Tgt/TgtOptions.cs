using Cairn.Core;

namespace Cairn.Export.Tgt;

/// <summary>How Cairn reaches tgtd.</summary>
public sealed record TgtOptions
{
    /// <summary>tgtd's control port (<c>tgtd -C N</c>, <c>tgtadm -C N</c>); 0 is tgtd's default.</summary>
    public int ControlPort { get; init; }

    /// <summary>The tgtadm program (a name looked up on PATH, or a path).</summary>
    public string TgtAdm { get; init; } = "tgtadm";

    /// <summary>
    /// Cairn creates its targets with target ids from here up, and treats every target in that range as its own; targets
    /// with lower ids (made by hand or by tgt-admin, which count from 1) are never touched.
    /// </summary>
    public int FirstTid { get; init; } = 1_000_000;

    /// <summary>Each tgtadm command is killed after this.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many targets are set up at once (tgtadm round trips overlap; tgtd serialises them itself).</summary>
    public int Parallelism { get; init; } = 4;

    /// <summary>Where tgtd puts its control socket (<c>socket.N</c>); a new socket file means tgtd restarted.</summary>
    public string SocketDirectory { get; init; } = "/var/run/tgtd";

    /// <summary>The control socket of <see cref="ControlPort"/>.</summary>
    public string SocketPath => Path.Combine(SocketDirectory, $"socket.{ControlPort}");

    /// <summary>Checks the options and that tgtadm can be found, before anything runs.</summary>
    public void Validate()
    {
        if (ControlPort is < 0 or > 32767) throw CairnException.Invalid("tgt control port must be between 0 and 32767 (tgtd -C takes no more)");
        if (FirstTid < 1) throw CairnException.Invalid("tgt: the first target id must be positive");
        if (Parallelism is < 1 or > 64) throw CairnException.Invalid("tgt: parallelism must be between 1 and 64");
        if (Find(TgtAdm) is null)
            throw new CairnException(ErrorKind.NotSupported, $"--exporter tgt: '{TgtAdm}' not found (install Debian package tgt, and start tgtd -C {ControlPort})");
    }

    private static string? Find(string program)
    {
        if (program.Contains('/', StringComparison.Ordinal)) return File.Exists(program) ? program : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/sbin", "/sbin"]))
            if (File.Exists(Path.Combine(dir, program))) return Path.Combine(dir, program);
        return null;
    }
}
