using System.Net;
using Cairn.Core;

namespace Cairn.Hosting;

/// <summary>
/// Server settings. Sources, later ones winning: built-in defaults, the config file (<c>--config FILE</c> or
/// <c>$CAIRN_CONFIG</c>, JSON), <c>CAIRN_*</c> environment variables (<c>CAIRN_DATA</c>, <c>CAIRN_HTTP</c>,
/// <c>CAIRN_ISCSI</c>, …), then command-line options.
/// </summary>
public sealed class CairnOptions
{
    public string Data { get; set; } = "./cairn-data";
    public string Http { get; set; } = "127.0.0.1:8776";
    public string Iscsi { get; set; } = "127.0.0.1:3260";

    /// <summary>
    /// Unix socket for local clients (the CLI on this host): empty means <c>DATA/cairn.sock</c>, <c>none</c> turns it
    /// off. Mode 0600: only the server's user (and root) can connect. <c>CAIRN_SOCKET</c>.
    /// </summary>
    public string Socket { get; set; } = "";

    /// <summary>
    /// The socket path, or null when there is none. The default is dropped, with a <paramref name="warning"/>, when
    /// the data directory's path is too long for a socket (107 bytes); a path given explicitly must fit.
    /// </summary>
    public string? SocketPath(string dataDir, out string? warning)
    {
        warning = null;
        if (Socket.Equals("none", StringComparison.OrdinalIgnoreCase)) return null;
        var path = Socket.Length == 0 ? Path.Combine(dataDir, "cairn.sock") : Path.GetFullPath(Socket);
        if (System.Text.Encoding.UTF8.GetByteCount(path) <= 107) return path;
        var why = $"socket path {path} is longer than the 107 bytes a Unix socket path may have";
        if (Socket.Length != 0) throw CairnException.Invalid(why + "; choose a shorter --socket (CAIRN_SOCKET) or none");
        warning = why + "; serving without a socket (set --socket to a shorter path)";
        return null;
    }

    /// <summary>
    /// Which exporter makes targets live: <c>cairn</c> (Cairn's own iSCSI target, default) or <c>tgt</c> (a running
    /// tgtd driven through tgtadm; only pools whose engine gives backing files, e.g. zfs). <c>CAIRN_EXPORTER</c>.
    /// </summary>
    public string Exporter { get; set; } = "cairn";

    /// <summary>tgtd's control port (<c>tgtadm -C N</c>; 0: tgtd's default). <c>CAIRN_TGT_CONTROL_PORT</c>.</summary>
    public int TgtControlPort { get; set; }

    /// <summary>
    /// Pools to create at start when they do not exist yet, comma-separated <c>NAME[:ENGINE]</c> (engine default
    /// embedded), e.g. <c>tank,na-jbod-02-p01:zfs</c>. <c>CAIRN_POOLS</c>.
    /// </summary>
    public string Pools { get; set; } = "";

    /// <summary>The embedded engine syncs its data and metadata (default). False only for throwaway test data. <c>CAIRN_ENGINE_SYNC</c>.</summary>
    public bool EngineSync { get; set; } = true;

    /// <summary><see cref="Pools"/> parsed: name → engine.</summary>
    public IReadOnlyDictionary<string, string> DeclaredPools()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in Pools.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = item.IndexOf(':', StringComparison.Ordinal);
            var (name, engine) = colon < 0 ? (item, "embedded") : (item[..colon], item[(colon + 1)..]);
            var why = Names.CheckDataset(name);
            if (why is not null || name.Contains('/')) throw CairnException.Invalid($"pools: '{item}' is not NAME[:ENGINE] ({why ?? "a pool name has no '/'"})");
            // The engines AddCairnEngines registers: an unknown one would fail the start after the data directory was made.
            if (engine is not ("embedded" or "zfs")) throw CairnException.Invalid($"pools: '{item}' names engine '{engine}' (engines: embedded, zfs)");
            result[name] = engine;
        }
        return result;
    }

    /// <summary>
    /// How API tokens are checked: <c>keystone</c> (default; tokens from Cairn's Keystone-compatible identity service
    /// under <c>/identity/v3</c>) or <c>noauth</c> (Cinder's development mode: the token <c>user:project</c> is taken at
    /// its word and the caller is an admin; only on a loopback HTTP listener). <c>CAIRN_AUTH</c>.
    /// </summary>
    public string Auth { get; set; } = "keystone";

    /// <summary>
    /// The base URL clients reach this server at, for the identity service's catalog (<c>{url}/v3/{project_id}</c> for
    /// Block Storage) and version links. Empty: derived from the HTTP listener (its address and port, https with TLS),
    /// or, when it listens on a wildcard address or port 0, from the address each client used. <c>CAIRN_PUBLIC_URL</c>.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1056", Justification = "A setting as typed (empty: derived); validated at start.")]
    public string PublicUrl { get; set; } = "";

    /// <summary>How long an identity token lives, in seconds (Keystone's default: 3600). <c>CAIRN_TOKEN_EXPIRATION</c>.</summary>
    public int TokenExpiration { get; set; } = 3600;

    /// <summary>
    /// The pool the Block Storage (Cinder) API keeps its volumes in (<c>CAIRN_BLOCK_STORAGE_POOL</c>). When no pool of
    /// that name exists, the API still answers, but creates answer 503 naming the pool and <c>os-services</c> shows the
    /// volume service down, until the pool is created (<c>cairn pool create NAME</c>; no restart needed).
    /// </summary>
    public string BlockStoragePool { get; set; } = "volumes";

    /// <summary>
    /// The iSCSI portal (ADDR:PORT) the Block Storage API gives initiators in connection info; empty means
    /// <see cref="Iscsi"/> (<c>CAIRN_BLOCK_STORAGE_PORTAL</c>). Set it when initiators reach the target through another address.
    /// </summary>
    public string BlockStoragePortal { get; set; } = "";

    /// <summary><see cref="BlockStoragePortal"/>, or the iSCSI listener's address when it is empty.</summary>
    public string BlockStoragePortalOrIscsi() => BlockStoragePortal.Length > 0 ? BlockStoragePortal : Iscsi;

    /// <summary>
    /// The directory StarlingX volume and snapshot exports are written to and imports read from (<c>CAIRN_BACKUP_DIR</c>;
    /// default <c>/opt/backups</c>, as the original). Created at the first export when missing; only plain file names
    /// inside it are ever opened.
    /// </summary>
    public string BackupDir { get; set; } = "/opt/backups";

    /// <summary>How many jobs run at once.</summary>
    public int JobConcurrency { get; set; } = 4;

    /// <summary>Finished jobs are kept this many days.</summary>
    public int JobRetentionDays { get; set; } = 30;

    /// <summary>
    /// How iSCSI LUNs present their medium: <c>fixed</c> (default; volumes are fixed disks) or <c>removable</c>
    /// (INQUIRY RMB=1, START STOP UNIT may eject/load, PREVENT ALLOW MEDIUM REMOVAL applies). <c>removable</c> exists
    /// for conformance runs (libiscsi's PreventAllow/StartStopUnit tests skip on fixed media). <c>CAIRN_ISCSI_MEDIUM</c>.
    /// </summary>
    public string IscsiMedium { get; set; } = "fixed";

    /// <summary>
    /// MiB of write data the iSCSI target buffers for all connections together (16..1048576, default 256); writes
    /// beyond it wait for their R2Ts instead of failing. <c>CAIRN_ISCSI_WRITE_BUFFER_MB</c>.
    /// </summary>
    public int IscsiWriteBufferMb { get; set; } = 256;

    /// <summary>TLS certificate (PEM) for the HTTP listener; with it, clients must present a certificate.</summary>
    public string? TlsCert { get; set; }
    public string? TlsKey { get; set; }
    /// <summary>CA bundle (PEM) that client certificates must chain to.</summary>
    public string? ClientCa { get; set; }
    /// <summary>Allowed client certificates: subjects (<c>CN=…</c>) or SHA-256 fingerprints (hex), separated by <c>;</c> or newlines (or <c>,</c> before the next <c>CN=</c>, fingerprint or <c>*</c>: see HttpsSetup.ClientPolicy.SplitAllow).</summary>
    public string? ClientAllow { get; set; }

    /// <summary>
    /// <see cref="PublicUrl"/>, or the URL the HTTP listener itself gives (its address and port; https with TLS), or null
    /// when it listens on a wildcard address or port 0, whose URL only a client knows.
    /// </summary>
    public string? ResolvedPublicBase()
    {
        if (PublicUrl.Length > 0) return PublicUrl.TrimEnd('/');
        var ep = ParseEndpoint(Http, "http");
        if (ep.Port == 0 || ep.Address.Equals(IPAddress.Any) || ep.Address.Equals(IPAddress.IPv6Any)) return null;
        return $"{(TlsCert is null ? "http" : "https")}://{ep}";
    }

    /// <summary>Parses ADDR:PORT (IPv4, [IPv6], or localhost); <paramref name="what"/> is the setting (<c>http</c>, <c>iscsi</c>).</summary>
    public static IPEndPoint ParseEndpoint(string text, string what)
    {
        var setting = Setting(char.ToUpperInvariant(what[0]) + what[1..]);
        if (string.IsNullOrWhiteSpace(text)) throw CairnException.Invalid($"{setting}: empty address");
        var t = text.Trim();
        if (t.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase)) t = "127.0.0.1:" + t["localhost:".Length..];
        if (!IPEndPoint.TryParse(t, out var ep) || !t.Contains(':'))
            throw CairnException.Invalid($"{setting}: '{text}' is not ADDR:PORT (e.g. 127.0.0.1:8776; port 0 picks a free port)");
        return ep;
    }

    /// <summary>
    /// How errors name a setting: its command-line option where it has one, else its config-file name, with its
    /// environment variable (<c>--http (CAIRN_HTTP)</c>, <c>JobConcurrency (CAIRN_JOB_CONCURRENCY)</c>).
    /// </summary>
    public static string Setting(string name)
    {
        var env = "CAIRN_" + CairnOptionsBinder.EnvironmentName(name);
        return CommandLine.Contains(name) ? $"--{CairnOptionsBinder.EnvironmentName(name).ToLowerInvariant().Replace('_', '-')} ({env})" : $"{name} ({env})";
    }

    /// <summary>Settings that <c>cairn serve</c> also takes as options (<c>TlsCert</c> is <c>--tls-cert</c>).</summary>
    private static readonly HashSet<string> CommandLine = new(StringComparer.Ordinal)
    {
        "Data", "Http", "Iscsi", "Socket", "TlsCert", "TlsKey", "ClientCa", "ClientAllow", "Exporter", "TgtControlPort", "Pools", "Auth", "PublicUrl", "BlockStoragePool", "BackupDir",
    };

    /// <summary>Checks everything that can be checked before opening anything; each error names its setting.</summary>
    public void Validate()
    {
        var http = ParseEndpoint(Http, "http");
        ParseEndpoint(Iscsi, "iscsi");
        if (Auth is not ("keystone" or "noauth")) throw CairnException.Invalid($"{Setting("Auth")}: '{Auth}' is not keystone or noauth");
        if (Auth == "noauth" && !IPAddress.IsLoopback(http.Address))
            throw CairnException.Invalid($"{Setting("Auth")}: noauth trusts every caller as an admin, so it is for development on a loopback listener only; --http {Http} is not loopback");
        if (PublicUrl.Length > 0 && (!Uri.TryCreate(PublicUrl, UriKind.Absolute, out var pub) || pub.Scheme is not ("http" or "https") || pub.Query.Length > 0 || pub.Fragment.Length > 0))
            throw CairnException.Invalid($"{Setting("PublicUrl")}: '{PublicUrl}' is not an http:// or https:// URL (e.g. https://cairn.example.com:8776)");
        if (TokenExpiration is < 1 or > 31 * 24 * 3600) throw CairnException.Invalid($"{Setting("TokenExpiration")}: {TokenExpiration} is not between 1 and 2678400 seconds (31 days)");
        if (string.IsNullOrWhiteSpace(Data)) throw CairnException.Invalid($"{Setting("Data")}: empty directory");
        if (File.Exists(Data)) throw CairnException.Invalid($"{Setting("Data")}: {Data} is a file, not a directory");
        if (JobConcurrency is < 1 or > 256) throw CairnException.Invalid($"{Setting("JobConcurrency")}: {JobConcurrency} is not between 1 and 256");
        if (JobRetentionDays < 0) throw CairnException.Invalid($"{Setting("JobRetentionDays")}: {JobRetentionDays} is negative");
        if (Exporter is not ("cairn" or "tgt")) throw CairnException.Invalid($"{Setting("Exporter")}: '{Exporter}' is not cairn or tgt");
        if (TgtControlPort is < 0 or > 32767) throw CairnException.Invalid($"{Setting("TgtControlPort")}: {TgtControlPort} is not between 0 and 32767 (tgtd -C takes no more)");
        try { DeclaredPools(); }
        catch (CairnException e) { throw CairnException.Invalid($"{Setting("Pools")}: {e.Message.Replace("pools: ", "", StringComparison.Ordinal)}"); }
        // At least one command's largest buffer (IscsiTargetOptions.MaxCommandBuffer, 16 MiB).
        if (IscsiWriteBufferMb is < 16 or > 1048576) throw CairnException.Invalid($"{Setting("IscsiWriteBufferMb")}: {IscsiWriteBufferMb} is not between 16 and 1048576 (MiB)");
        if (Names.CheckDataset(BlockStoragePool) is not null || BlockStoragePool.Contains('/', StringComparison.Ordinal))
            throw CairnException.Invalid($"{Setting("BlockStoragePool")}: '{BlockStoragePool}' is not a pool name ({Names.CheckDataset(BlockStoragePool) ?? "a pool name has no '/'"})");
        if (string.IsNullOrWhiteSpace(BackupDir)) throw CairnException.Invalid($"{Setting("BackupDir")}: empty directory");
        if (BackupDir.Contains('\0', StringComparison.Ordinal)) throw CairnException.Invalid($"{Setting("BackupDir")}: the path holds a NUL character");
        if (File.Exists(BackupDir)) throw CairnException.Invalid($"{Setting("BackupDir")}: {BackupDir} is a file, not a directory");
        if (BlockStoragePortal.Length > 0) ParseEndpoint(BlockStoragePortal, "blockStoragePortal");
        if (IscsiMedium is not ("fixed" or "removable")) throw CairnException.Invalid($"{Setting("IscsiMedium")}: '{IscsiMedium}' is not fixed or removable");
        if ((TlsCert is null) != (TlsKey is null)) throw CairnException.Invalid($"{Setting(TlsCert is null ? "TlsCert" : "TlsKey")}: --tls-cert and --tls-key go together");
        if (ClientCa is not null && TlsCert is null) throw CairnException.Invalid($"{Setting("ClientCa")}: needs --tls-cert and --tls-key");
        foreach (var (name, file) in new[] { ("TlsCert", TlsCert), ("TlsKey", TlsKey), ("ClientCa", ClientCa) })
            if (file is not null && !File.Exists(file)) throw CairnException.Invalid($"{Setting(name)}: {file} does not exist");
    }
}
