using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine.Zfs;

/// <summary>
/// Orders the ops of one batch: op j waits for an earlier op i only when one writes a name the other reads or writes,
/// or an ancestor or descendant of it (destroying <c>p/a</c> and cloning into <c>p/a/b</c> are ordered; 1,000 clones
/// of one snapshot into different targets are not, and run side by side).
/// </summary>
internal static class Batch
{
    public static (string[] Writes, string[] Reads) NamesOf(EngineOp op) => op switch
    {
        EngineOp.CreateVolume o => ([o.Name], []),
        EngineOp.CreateFolder o => ([o.Name], []),
        EngineOp.CreateSnapshot o => ([o.Dataset + "@" + o.Name], [o.Dataset]),
        EngineOp.CloneSnapshot o => ([o.Target], [o.Source + "@" + o.Snapshot]),
        EngineOp.Destroy o => ([o.Name], []),
        EngineOp.DestroySnapshot o => ([o.Dataset + "@" + o.Name], []),
        EngineOp.Resize o => ([o.Name], []),
        // Rename, rollback and promote move names, origins and snapshots across the pool, whose inventory is then read
        // again whole: each is ordered after every earlier op of its pool and before every later one.
        EngineOp.Rename o => ([PoolOf(o.Name), o.NewName], []),
        EngineOp.RenameSnapshot o => ([PoolOf(o.Dataset)], []),
        EngineOp.Rollback o => ([PoolOf(o.Dataset)], []),
        EngineOp.Promote o => ([PoolOf(o.Name)], []),
        _ => ([], []),
    };

    private static string PoolOf(string name) => name.Split('/', '@')[0];

    /// <summary>For each op, the earlier ops it must wait for.</summary>
    public static List<int>[] Dependencies(IReadOnlyList<EngineOp> ops)
    {
        var names = ops.Select(o => o is null ? ([], []) : NamesOf(o)).ToArray();
        var deps = new List<int>[ops.Count];
        for (int j = 0; j < ops.Count; j++)
        {
            deps[j] = [];
            var (wj, rj) = names[j];
            for (int i = 0; i < j; i++)
            {
                var (wi, ri) = names[i];
                if (AnyRelated(wi, wj) || AnyRelated(wi, rj) || AnyRelated(wj, ri)) deps[j].Add(i);
            }
        }
        return deps;
    }

    private static bool AnyRelated(string[] a, string[] b)
    {
        foreach (var x in a)
            foreach (var y in b)
                if (Related(x, y)) return true;
        return false;
    }

    /// <summary>Equal, or one is an ancestor (<c>a/…</c>) or the dataset of a snapshot (<c>a@…</c>) of the other.</summary>
    public static bool Related(string a, string b) => Covers(a, b) || Covers(b, a);

    private static bool Covers(string a, string b) =>
        b.Length >= a.Length && b.StartsWith(a, StringComparison.Ordinal) && (b.Length == a.Length || b[a.Length] is '/' or '@');

    /// <summary>Op results as an engine caller expects them: failures carry a <see cref="CairnException"/>.</summary>
    public static CairnException AsCairn(Exception e) => e as CairnException ?? new CairnException(ErrorKind.Internal, e.Message, e);
}
