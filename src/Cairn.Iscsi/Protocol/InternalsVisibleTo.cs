using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Cairn.Iscsi.Tests")]
