using System.Globalization;
using Cairn.Core;
using Microsoft.Extensions.Configuration;

namespace Cairn.Hosting;

/// <summary>
/// Binds <see cref="CairnOptions"/> from configuration, one explicit line per setting (no reflection). Each setting is
/// read under its own name (<c>TlsCert</c>, as in a config file or an override) or its environment form
/// (<c>TLS_CERT</c>, from <c>CAIRN_TLS_CERT</c>); a value of the wrong type is an error that names the setting.
/// </summary>
public static class CairnOptionsBinder
{
    private sealed record Setting(string Name, Action<CairnOptions, string> Apply);

    private static readonly Setting[] Settings =
    [
        Text("Data", (o, v) => o.Data = v),
        Text("Http", (o, v) => o.Http = v),
        Text("Iscsi", (o, v) => o.Iscsi = v),
        Text("Socket", (o, v) => o.Socket = v),
        Text("Exporter", (o, v) => o.Exporter = v),
        Whole("TgtControlPort", (o, v) => o.TgtControlPort = v),
        Text("Pools", (o, v) => o.Pools = v),
        Flag("EngineSync", (o, v) => o.EngineSync = v),
        Whole("JobConcurrency", (o, v) => o.JobConcurrency = v),
        Whole("JobRetentionDays", (o, v) => o.JobRetentionDays = v),
        Text("IscsiMedium", (o, v) => o.IscsiMedium = v),
        Whole("IscsiWriteBufferMb", (o, v) => o.IscsiWriteBufferMb = v),
        Text("Auth", (o, v) => o.Auth = v),
        Text("PublicUrl", (o, v) => o.PublicUrl = v),
        Whole("TokenExpiration", (o, v) => o.TokenExpiration = v),
        Text("BlockStoragePool", (o, v) => o.BlockStoragePool = v),
        Text("BlockStoragePortal", (o, v) => o.BlockStoragePortal = v),
        Text("BackupDir", (o, v) => o.BackupDir = v),
        Text("TlsCert", (o, v) => o.TlsCert = v),
        Text("TlsKey", (o, v) => o.TlsKey = v),
        Text("ClientCa", (o, v) => o.ClientCa = v),
        Text("ClientAllow", (o, v) => o.ClientAllow = v),
    ];

    /// <summary>The settings' names, as a config file spells them.</summary>
    public static IEnumerable<string> Names => Settings.Select(s => s.Name);

    /// <summary>Applies every setting present in <paramref name="cfg"/> to <paramref name="options"/>.</summary>
    public static CairnOptions Bind(IConfiguration cfg, CairnOptions options)
    {
        foreach (var s in Settings)
        {
            var v = cfg[s.Name] ?? cfg[EnvironmentName(s.Name)];
            if (v is not null) s.Apply(options, v);
        }
        return options;
    }

    /// <summary><c>TlsCert</c> → <c>TLS_CERT</c> (the variable is <c>CAIRN_TLS_CERT</c>).</summary>
    public static string EnvironmentName(string name) =>
        string.Concat(name.Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : c.ToString())).ToUpperInvariant();

    private static Setting Text(string name, Action<CairnOptions, string> set) => new(name, set);

    private static Setting Whole(string name, Action<CairnOptions, int> set) => new(name, (o, v) =>
        set(o, int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i
            : throw CairnException.Invalid($"{CairnOptions.Setting(name)}: '{v}' is not a whole number")));

    private static Setting Flag(string name, Action<CairnOptions, bool> set) => new(name, (o, v) =>
        set(o, bool.TryParse(v, out var b) ? b : throw CairnException.Invalid($"{CairnOptions.Setting(name)}: '{v}' is not true or false")));
}
